// "New from template" on the Definitions page: a picker of the reference workflows shipped
// with kworkflow (GET /v1/templates) that loads one's YAML into the definition editor.
import { api, detail } from "./api.js";
import { el, fill } from "./dom.js";

export function templatePicker(source) {
  const select = el("select", { id: "template-picker", "aria-label": "Template" },
    el("option", { value: "" }, "Choose a template…"));
  const about = el("p", { id: "template-about", class: "muted", "aria-live": "polite" });
  const descriptions = new Map();
  const load = async () => {
    const name = select.value;
    if (!name) return;
    if (source.value.trim() && !confirm("Replace the definition in the editor?")) return;
    const { ok, body } = await api(`/v1/templates/${encodeURIComponent(name)}`);
    if (!ok) {
      fill(about, el("span", { class: "form-error" }, detail(body)));
      return;
    }
    source.value = body.workflow;
    source.dispatchEvent(new Event("input", { bubbles: true }));
    fill(about, `Loaded ${name}: lint it, change its name, publish it. Its README and `,
      `worker.yaml: kworkflow init --template ${name}`);
  };
  select.addEventListener("change", () => fill(about, descriptions.get(select.value) || ""));
  api("/v1/templates").then(({ ok, body }) => {
    if (!ok) return;
    for (const t of body.templates) {
      descriptions.set(t.name, t.description);
      select.append(el("option", { value: t.name }, t.name));
    }
  });
  return el("div", { class: "template-picker" },
    el("h2", {}, "New from template"),
    el("div", { class: "buttons" }, select,
      el("button", { type: "button", id: "load-template", onclick: load }, "Load into the editor")),
    about);
}
