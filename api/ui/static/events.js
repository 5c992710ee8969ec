// The `event` steps a run waits on (the run view's pending_events): a box above the graph that
// lists each with the type and filter it waits for, since when and until when, and the rows the
// step detail adds for a waiting event step.
import { duration, el, when } from "./dom.js";

const OPEN = new Set(["running", "paused", "stalled"]);

// The run's waiting event steps, none once it has ended.
export function pendingEvents(run) {
  return OPEN.has(run?.status) ? run.pending_events || [] : [];
}

// "Waiting for events": one line per waiting step; clicking its name selects it.
export function pendingEventsBlock(run, select) {
  const pending = pendingEvents(run);
  if (!pending.length) return null;
  return el("section", { class: "pending-events", id: "pending-events" },
    el("h2", {}, "Waiting for events"),
    el("table", { class: "pending-events" },
      el("thead", {}, el("tr", {}, ["Step", "Event type", "Filter", "Since", "Times out"]
        .map((h) => el("th", {}, h)))),
      el("tbody", {}, pending.map((p) => el("tr", { "data-step": p.step },
        el("td", {}, el("a", { href: "javascript:void 0", onclick: () => select(p.step) },
          p.step)),
        el("td", { class: "event-type" }, el("code", {}, p.type)),
        el("td", { class: "event-filter" }, p.filter ? el("code", {}, p.filter) : "any"),
        el("td", { class: "event-since" }, when(p.since)),
        el("td", { class: "event-timeout" }, timeoutText(p)),
      )))));
}

// The step detail's rows for a step waiting on an event ([] for any other step).
export function pendingEventRows(run, step) {
  const pending = pendingEvents(run).find((p) => p.step === step);
  if (!pending) return [];
  return [
    ["Waits for", el("code", { class: "event-type" }, pending.type)],
    ["Filter", pending.filter ? el("code", { class: "event-filter" }, pending.filter) : "any"],
    ["Waiting since", el("span", { class: "event-since" }, when(pending.since))],
    ["Times out", el("span", { class: "event-timeout" }, timeoutText(pending))],
  ];
}

function timeoutText(pending) {
  if (!pending.timeout_at) return "never";
  const left = Date.parse(pending.timeout_at) - Date.now();
  return `${when(pending.timeout_at)}` + (left > 0 ? ` (in ${duration(left)})` : " (now)");
}
