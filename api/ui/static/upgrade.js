// "Upgrade to vN" on a paused run whose workflow has a newer published version: the run's
// started steps keep their state, the others follow version N (POST /v1/runs/<id>/upgrade).
// The run stays paused; its page then shows the new version, its graph and "upgraded from".
import { api, detail } from "./api.js";
import { el } from "./dom.js";
import { showError } from "./forms.js";

export function upgradeControl(path, errors, onUpgraded) {
  let latest = null;  // the workflow's latest version, asked for once per run name
  let asked = null;
  const button = el("button", { id: "upgrade-run", type: "button", hidden: true,
    onclick: () => upgrade() }, "Upgrade");

  async function upgrade() {
    button.disabled = true;
    const { ok, body } = await api(`${path}/upgrade`, { method: "POST", json: { version: latest } });
    button.disabled = false;
    if (!ok) {
      showError(errors, detail(body));
      return;
    }
    showError(errors, "");
    await onUpgraded(body);
  }

  // Show the button when the run is paused and its workflow has a newer version.
  async function update(run) {
    if (run.status !== "paused" || !run.workflow) {
      button.hidden = true;
      return;
    }
    if (asked !== run.workflow) {
      asked = run.workflow;
      const { ok, body } = await api(`/v1/workflows/${encodeURIComponent(run.workflow)}`);
      latest = ok ? body.version : null;
    }
    const newer = latest !== null && latest > (run.version ?? 0);
    button.hidden = !newer;
    button.textContent = newer ? `Upgrade to v${latest}` : "Upgrade";
  }

  return { button, update };
}

// "upgraded from v1 by someone" in a run's head, when it was upgraded.
export function upgradedNote(run) {
  const upgraded = run.upgraded;
  if (!upgraded) return null;
  const by = upgraded.by ? ` by ${upgraded.by}` : "";
  return el("p", { class: "upgraded" }, `upgraded from v${upgraded.from_version}${by}`);
}
