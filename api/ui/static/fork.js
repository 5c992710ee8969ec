// "Fork from here" on a step of an ended run: pick steps that keep their outputs, replace some
// of those outputs in a JSON editor, and start a new run that continues from the step
// (POST /v1/runs/<id>/fork). The API checks each edit against the step's form or
// output_schema; its refusal is shown in place and nothing is started.
import { api, detail } from "./api.js";
import { el, fill, pretty } from "./dom.js";
import { showError } from "./forms.js";

const ENDED = ["succeeded", "failed", "cancelled", "timed_out"];
let editors = 0;

// The box under a step's details, or null when the run has not ended. `open(id)` shows a run.
export function forkFromHere(run, stepId, runPath, open) {
  if (!ENDED.includes(run.status)) return null;
  const box = el("div", { class: "step-actions fork" });
  const button = el("button", { type: "button", id: "fork-from-here",
    onclick: () => showEditor() }, "Fork from here");
  box.append(button, el("span", { class: "form-error", role: "alert", hidden: true }));

  async function showEditor() {
    button.disabled = true;
    const kept = await keptSteps(run, stepId);
    button.disabled = false;
    if (kept.error) {
      showError(box, kept.error);
      return;
    }
    fill(box, editor(run, stepId, kept.steps, runPath, open));
  }
  return box;
}

// The steps whose outputs a fork from `stepId` keeps (they ended succeeded and are not
// downstream of it), read from the run's definition.
async function keptSteps(run, stepId) {
  const url = `/v1/workflows/${encodeURIComponent(run.workflow)}/versions/${run.version}`;
  const { ok, body } = await api(url);
  if (!ok) return { error: detail(body) };
  const definition = body.definition || {};
  const ids = (definition.steps || []).map((s) => s.id);
  const again = downstream(stepId, ids, definition.edges);
  const steps = ids.filter((id) => !again.has(id) && run.steps?.[id]?.status === "succeeded");
  return { steps };
}

// `start` and every step reachable from it over the edges (without `edges`: a chain).
function downstream(start, ids, edges) {
  const next = {};
  const pairs = edges === undefined || edges === null
    ? ids.slice(1).map((to, i) => [ids[i], to])
    : edges.flatMap((e) => list(e.from).flatMap((from) => list(e.to).map((to) => [from, to])));
  for (const [from, to] of pairs) (next[from] ||= []).push(to);
  const seen = new Set([start]);
  const todo = [start];
  while (todo.length) {
    for (const to of next[todo.pop()] || []) {
      if (!seen.has(to)) {
        seen.add(to);
        todo.push(to);
      }
    }
  }
  return seen;
}

function list(value) {
  return Array.isArray(value) ? value : [value];
}

function editor(run, stepId, kept, runPath, open) {
  const edits = el("div", { class: "fork-edits" });
  const errors = el("p", { class: "form-error", role: "alert", hidden: true });
  const choose = el("select", { id: "fork-step", "aria-label": "step to edit" },
    kept.map((id) => el("option", { value: id }, id)));
  const add = el("button", { type: "button", id: "fork-add-edit",
    onclick: () => addEdit(choose.value) }, "Edit output");
  const start = el("button", { type: "button", id: "fork-start",
    onclick: () => startFork() }, "Start fork");
  const form = el("div", { class: "fork-editor" },
    el("h3", {}, `Fork from ${stepId}`),
    el("p", { class: "muted" }, `${stepId} and every step after it run again in a new run; ` +
      "the steps before it keep their outputs, or the ones you set here."),
    kept.length
      ? el("p", {}, choose, " ", add)
      : el("p", { class: "muted" }, "No step before this one has an output to edit."),
    edits, errors, start);

  function addEdit(id) {
    if (!id || edits.querySelector(`[data-step="${CSS.escape(id)}"]`)) return;
    const output = run.steps[id].output;
    const text = el("textarea", { rows: 6, spellcheck: "false", "data-step": id,
      id: `fork-output-${++editors}`, "aria-label": `output of ${id}` });
    text.value = pretty(output);
    const remove = el("button", { type: "button", class: "link",
      "aria-label": `remove the edit of ${id}`, onclick: () => entry.remove() }, "remove");
    const entry = el("div", { class: "fork-edit" },
      el("p", {}, el("label", { for: text.id }, `Output of ${id}`), " ", remove), text);
    edits.append(entry);
  }

  async function startFork() {
    const set = {};
    for (const text of edits.querySelectorAll("textarea")) {
      try {
        set[text.dataset.step] = JSON.parse(text.value);
      } catch (error) {
        showError(form, `output of ${text.dataset.step}: not JSON (${error.message})`);
        return;
      }
    }
    start.disabled = true;
    const { ok, body } = await api(`${runPath}/fork`, { method: "POST",
      json: { from: stepId, set } });
    start.disabled = false;
    if (!ok) {
      showError(form, detail(body));
      return;
    }
    showError(form, "");
    open(body.run_id);
  }
  return form;
}
