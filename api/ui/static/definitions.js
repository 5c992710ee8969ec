// #/workflows: the published definitions and a linter for a pasted one;
// #/workflows/<name>/<version>: a version's YAML and graph, and a form to start a run.
import { api, detail } from "./api.js";
import { el, fill, when } from "./dom.js";
import { attachEditor } from "./editor.js";
import { schemaForm, showError } from "./forms.js";
import { loadGraph } from "./graph.js";
import { schedulesSection } from "./schedules.js";
import { templatePicker } from "./templates.js";

export function definitionsPage(view) {
  const body = el("tbody");
  const source = el("textarea", { id: "lint-source", rows: 12, spellcheck: "false",
    placeholder: "kworkflow: 1\nname: ...\nsteps: ..." });
  const results = el("div", { id: "lint-results", "aria-live": "polite" });
  const lint = async (publish) => {
    const url = publish ? "/v1/workflows" : "/v1/workflows/validate";
    const type = source.value.trim().startsWith("{") ? "application/json" : "application/yaml";
    const { ok, status, body: answer } = await api(url, { method: "POST", text: source.value, type });
    fill(results);
    if (publish && ok) {
      location.hash = `#/workflows/${encodeURIComponent(answer.name)}/${answer.version}`;
      return;
    }
    const problems = answer?.problems || [];
    if (!problems.length) {
      const text = ok ? "No problems found." : `${status}: ${detail(answer)}`;
      results.append(el("p", { class: ok ? "ok" : "form-error" }, text));
      return;
    }
    results.append(
      el("p", { class: "form-error" }, `${problems.length} problem${problems.length > 1 ? "s" : ""}`),
      el("ul", { class: "problems" }, problems.map((p) => el("li", {},
        el("code", {}, p.path || "(document)"),
        p.line ? ` line ${p.line}${p.column ? `:${p.column}` : ""}` : "",
        `: ${p.message}`))),
    );
  };
  fill(view,
    el("h1", {}, "Definitions"),
    el("table", { class: "workflows" },
      el("thead", {}, el("tr", {}, ["Workflow", "Latest", "Description", "Updated"]
        .map((h) => el("th", {}, h)))),
      body),
    templatePicker(source),
    el("h2", {}, "Lint a definition"),
    el("label", { for: "lint-source" }, "Definition (YAML or JSON)"),
    attachEditor(source),
    el("div", { class: "buttons" },
      el("button", { type: "button", id: "lint", onclick: () => lint(false) }, "Lint"),
      el("button", { type: "button", id: "publish", onclick: () => lint(true) }, "Publish")),
    results,
  );
  api("/v1/workflows").then(({ ok, body: data }) => {
    if (!ok) return;
    fill(body, ...data.workflows.map((w) => el("tr", { "data-workflow": w.name },
      el("td", {}, el("a", { href: `#/workflows/${encodeURIComponent(w.name)}/${w.latest_version}` },
        w.name)),
      el("td", {}, `v${w.latest_version}`),
      el("td", {}, w.description || ""),
      el("td", {}, when(w.updated_at)))));
    if (!data.workflows.length) body.append(el("tr", {}, el("td", { colspan: 4 }, "None yet.")));
  });
  return null;
}

export function definitionPage(view, name, version) {
  const base = `/v1/workflows/${encodeURIComponent(name)}`;
  fill(view, el("h1", {}, name));
  (async () => {
    const [versions, current] = await Promise.all([
      api(`${base}/versions`),
      api(version ? `${base}/versions/${encodeURIComponent(version)}` : base),
    ]);
    if (!current.ok) {
      view.append(el("p", { class: "form-error" }, detail(current.body)));
      return;
    }
    const wf = current.body;
    const graph = el("div", { class: "graph", id: "graph" });
    const { form } = schemaForm(wf.definition.input || { type: "object" }, {
      submitLabel: "Start run",
      onSubmit: async (input, formNode) => {
        const body = { workflow: name, version: wf.version, input };
        const { ok, body: answer } = await api("/v1/runs", { method: "POST", json: body });
        if (ok) location.hash = `#/runs/${encodeURIComponent(answer.id)}`;
        else showError(formNode, detail(answer));
      },
    });
    form.id = "start-form";
    const links = (versions.ok ? versions.body.versions : []).map((v) => el("a", {
      href: `#/workflows/${encodeURIComponent(name)}/${v.version}`,
      class: v.version === wf.version ? "active" : "",
    }, `v${v.version}`));
    fill(view,
      el("h1", {}, name, " ", el("small", {}, `v${wf.version}`)),
      wf.definition.description ? el("p", {}, wf.definition.description) : null,
      el("p", { class: "versions" }, "Versions: ", links, " · ",
        el("a", { href: `#/runs?workflow=${encodeURIComponent(name)}` }, "runs")),
      el("div", { class: "def-body" },
        el("section", {}, el("h2", {}, "Graph"), graph),
        el("section", {}, el("h2", {}, "Start a run"), form)),
      schedulesSection(name),
      el("h2", {}, `Source (${wf.format})`),
      el("pre", { class: "source", id: "source" }, wf.source),
    );
    loadGraph(graph, `/ui/graph/workflow/${encodeURIComponent(name)}/${wf.version}.svg`);
  })();
  return null;
}
