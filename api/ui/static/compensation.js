// A run's compensation on its page: the "Compensate" button (a failed or cancelled run whose
// definition has `compensate` specs) and the compensation block (status badge, its steps).
import { api, detail } from "./api.js";
import { el, statusBadge } from "./dom.js";
import { showError } from "./forms.js";

const COMPENSABLE = ["failed", "cancelled", "timed_out"];
const known = new Map();  // "name@version" -> whether a step of it has `compensate`

// Whether the run's definition has a step with `compensate` (its published version, read once).
export async function hasCompensations(run) {
  if (!run.workflow || !run.version) return false;
  const key = `${run.workflow}@${run.version}`;
  if (!known.has(key)) {
    const url = `/v1/workflows/${encodeURIComponent(run.workflow)}/versions/${run.version}`;
    known.set(key, api(url).then(({ ok, body }) =>
      ok && (body.definition?.steps || []).some((s) => s.compensate)));
  }
  return known.get(key);
}

// Whether the Compensate button applies: the run ended failed or cancelled, is no
// compensation run itself and has not been compensated.
export function mayCompensate(run) {
  return COMPENSABLE.includes(run.status) && !run.compensation
    && run.retry_of?.mode !== "compensate";
}

// The Compensate button: starts the compensation run and opens it.
export function compensateButton(path, errors) {
  const button = el("button", { id: "compensate-run", type: "button", hidden: true,
    onclick: async () => {
      button.disabled = true;
      const { ok, body } = await api(`${path}/compensate`, { method: "POST", json: {} });
      button.disabled = false;
      if (!ok) {
        showError(errors, detail(body));
        return;
      }
      showError(errors, "");
      window.location.hash = `#/runs/${encodeURIComponent(body.run_id)}`;
    } }, "Compensate");
  return button;
}

// The compensation block: its status, the compensation run (a manual one), each step's undo.
export function compensationBlock(run) {
  const comp = run.compensation;
  if (!comp) return null;
  const link = comp.run_id
    ? [" by ", el("a", { href: `#/runs/${encodeURIComponent(comp.run_id)}` }, comp.run_id)]
    : [comp.mode === "auto" ? " (automatic)" : ""];
  return el("section", { class: "block compensation", id: "compensation" },
    el("h3", {}, "Compensation ", statusBadge(comp.status), ...link),
    el("table", { class: "steps" },
      el("thead", {}, el("tr", {}, ["Step", "Kind", "Status", "Attempts", "Error"]
        .map((h) => el("th", {}, h)))),
      el("tbody", {}, comp.steps.map((s) => el("tr", { "data-step": s.step },
        el("td", {}, s.step), el("td", {}, s.kind), el("td", {}, statusBadge(s.status)),
        el("td", {}, s.attempts ?? ""),
        el("td", {}, s.error ? `${s.error.type}: ${s.error.message}` : ""))))));
}
