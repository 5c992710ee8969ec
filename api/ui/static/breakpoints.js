// Breakpoints on a run's page: a marker on each graph node that has one (left: before, right:
// after), and, on the step the run is held at, its input (before) or output (after) in a JSON
// editor with a Continue button (POST /v1/runs/<id>/continue).
import { api, detail } from "./api.js";
import { el, pretty } from "./dom.js";
import { showError } from "./forms.js";

const SVG = "http://www.w3.org/2000/svg";

export function markBreakpoints(graph, run) {
  const points = run.breakpoints || {};
  for (const when of ["before", "after"]) {
    for (const step of points[when] || []) {
      const node = graph.querySelector(`g.step[data-step="${CSS.escape(step)}"]`);
      const rect = node?.querySelector("rect");
      if (!rect || node.querySelector(`.bp-marker.bp-${when}`)) continue;
      const x = Number(rect.getAttribute("x")) || 0;
      const y = Number(rect.getAttribute("y")) || 0;
      const width = Number(rect.getAttribute("width")) || 0;
      const dot = document.createElementNS(SVG, "circle");
      dot.setAttribute("class", `bp-marker bp-${when}`);
      dot.setAttribute("cx", String(when === "before" ? x + 7 : x + width - 7));
      dot.setAttribute("cy", String(y + 7));
      dot.setAttribute("r", "5");
      const title = document.createElementNS(SVG, "title");
      title.textContent = `breakpoint ${when} ${step}`;
      dot.append(title);
      node.append(dot);
    }
  }
}

// The step the run is held at ({step, when}), or null.
export function heldAt(run) {
  const at = run?.paused?.reason === "breakpoint" ? run.paused.at : null;
  return at && at.step ? at : null;
}

// The editor of a held step, kept across renders (so an edit in progress is not lost): the same
// node while the run is held at the same step since the same time.
export function breakpointEditor(cache, run, stepId, path, onDone) {
  const at = heldAt(run);
  if (!at || at.step !== stepId) return null;
  // One editor per hold: a refresh of the run (a later `paused.since`, new events) keeps it and
  // what the user typed; a step is held at most once before and once after it runs.
  const key = `${at.step}:${at.when}`;
  if (cache.key === key) return cache.node;
  const field = at.when === "before" ? "input" : "output";
  const step = run.steps?.[stepId] || {};
  const original = pretty(step[field] ?? null);
  const text = el("textarea", { id: "breakpoint-value", rows: 10, spellcheck: "false",
    "aria-label": `${field} of ${stepId}` });
  text.value = original;
  const errors = el("span", { class: "form-error", hidden: true });
  const button = el("button", { type: "button", id: "continue-run", onclick: () => go() },
    "Continue");
  const box = el("div", { class: "step-actions" }, button, errors);
  const node = el("section", { class: "block breakpoint", "data-step": stepId },
    el("h3", {}, at.when === "before"
      ? `Held before ${stepId} starts: its input (edit, then continue)`
      : `Held after ${stepId} ran: its output (edit, then continue)`),
    text, box);

  async function go() {
    let value;
    try {
      value = JSON.parse(text.value);
    } catch (exc) {
      showError(box, `not valid JSON: ${exc.message}`);
      return;
    }
    const body = { step: stepId };
    if (text.value.trim() !== original.trim()) body[field] = value;
    button.disabled = true;
    const { ok, body: answer } = await api(`${path}/continue`, { method: "POST", json: body });
    button.disabled = false;
    if (!ok) {
      showError(box, detail(answer));
      return;
    }
    showError(box, "");
    cache.key = null;
    cache.node = null;
    await onDone();
  }

  cache.key = key;
  cache.node = node;
  return node;
}
