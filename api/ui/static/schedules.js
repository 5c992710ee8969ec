// The Schedules section of a workflow page: its schedules (one per trigger of the published
// version), each with its state, next fire time and last run, and Pause/Resume/Trigger now.
import { api, detail } from "./api.js";
import { el, fill, when } from "./dom.js";

const path = (id, action = "") => `/v1/schedules/${encodeURIComponent(id)}${action}`;

export function schedulesSection(name) {
  const body = el("tbody");
  const message = el("p", { class: "schedule-message", "aria-live": "polite" });
  const section = el("section", { class: "schedules", id: "schedules" },
    el("h2", {}, "Schedules"),
    el("table", { class: "schedules" },
      el("thead", {}, el("tr", {}, ["Trigger", "Version", "State", "Next run", "Last run", ""]
        .map((h) => el("th", {}, h)))),
      body),
    message);

  const row = (s) => {
    const next = s.next_runs ? s.next_runs[0] : s.next_run;
    const last = s.recent_runs ? s.recent_runs[s.recent_runs.length - 1] : s.last_run;
    const act = async (action) => {
      const { ok, body: answer } = await api(path(s.id, `/${action}`), { method: "POST", json: {} });
      if (!ok) {
        fill(message, detail(answer));
        return;
      }
      if (action === "trigger") {
        fill(message, answer.run_id ? "Started " : "Triggered; no run seen yet.",
          answer.run_id ? el("a", { href: `#/runs/${encodeURIComponent(answer.run_id)}` },
            answer.run_id) : null);
      } else fill(message);
      refresh(s.id);
    };
    return el("tr", { "data-schedule": s.id, "data-state": s.paused ? "paused" : "active" },
      el("td", {}, s.trigger),
      el("td", {}, s.version ? `v${s.version}` : ""),
      el("td", { class: "state" }, s.paused ? `paused${s.note ? ` (${s.note})` : ""}` : "active"),
      el("td", { class: "next" }, next ? when(next) : "-"),
      el("td", { class: "last" }, last ? el("a", { href: `#/runs/${encodeURIComponent(last.run_id)}` },
        when(last.scheduled_at)) : "-"),
      el("td", { class: "buttons" },
        el("button", { type: "button", class: "pause",
          onclick: () => act(s.paused ? "resume" : "pause") }, s.paused ? "Resume" : "Pause"),
        el("button", { type: "button", class: "trigger", onclick: () => act("trigger") },
          "Trigger now")));
  };

  // One schedule read again (GET is consistent; the list may lag a second behind).
  const refresh = async (id) => {
    const { ok, body: s } = await api(path(id));
    const old = body.querySelector(`tr[data-schedule="${CSS.escape(id)}"]`);
    if (ok && old) old.replaceWith(row(s));
  };

  api(`/v1/schedules?workflow=${encodeURIComponent(name)}`).then(({ ok, body: data }) => {
    if (!ok) {
      fill(message, detail(data));
      return;
    }
    fill(body, ...data.schedules.map(row));
    if (!data.schedules.length) {
      body.append(el("tr", {}, el("td", { colspan: 6 }, "No triggers in the published version.")));
    }
  });
  return section;
}

// "scheduled by <id> for <time>" on the page of a run a schedule started (null otherwise).
export function scheduledBy(run) {
  if (!run.scheduled) return null;
  return el("p", { class: "scheduled" }, "scheduled by ",
    el("code", {}, run.scheduled.schedule_id), ` for ${when(run.scheduled.scheduled_at)}`);
}
