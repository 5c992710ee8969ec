// #/runs: the tenant's runs, newest first, filtered by workflow and status, polled every 2 s.
import { api, detail } from "./api.js";
import { el, fill, statusBadge, when } from "./dom.js";

const STATUSES = ["running", "succeeded", "failed", "cancelled", "terminated", "timed_out"];

export function runsPage(view, params) {
  const workflow = el("select", { id: "filter-workflow" }, el("option", { value: "" }, "all"));
  const status = el(
    "select",
    { id: "filter-status" },
    el("option", { value: "" }, "all"),
    STATUSES.map((s) => el("option", { value: s }, s)),
  );
  workflow.value = params.get("workflow") || "";
  const body = el("tbody");
  const note = el("p", { class: "muted" });
  fill(view,
    el("h1", {}, "Runs"),
    el(
      "div",
      { class: "filters" },
      el("label", { for: "filter-workflow" }, "Workflow"),
      workflow,
      el("label", { for: "filter-status" }, "Status"),
      status,
    ),
    el(
      "table",
      { class: "runs" },
      el("thead", {}, el("tr", {}, ["Run", "Workflow", "Version", "Status", "Started", "Ended"]
        .map((h) => el("th", {}, h)))),
      body,
    ),
    note,
  );
  api("/v1/workflows").then(({ ok, body: data }) => {
    if (!ok) return;
    for (const w of data.workflows) workflow.append(el("option", { value: w.name }, w.name));
    workflow.value = params.get("workflow") || "";
  });
  let timer = null;
  let stopped = false;
  async function refresh() {
    clearTimeout(timer);
    const query = new URLSearchParams();
    if (workflow.value) query.set("workflow", workflow.value);
    if (status.value) query.set("status", status.value);
    const { ok, body: data } = await api(`/v1/runs?${query}`);
    if (stopped) return;
    if (ok) {
      fill(body, ...data.runs.map(row));
      note.textContent = data.runs.length ? "" : "No runs yet.";
    } else {
      note.textContent = detail(data);
    }
    timer = setTimeout(refresh, 2000);
  }
  workflow.addEventListener("change", refresh);
  status.addEventListener("change", refresh);
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function row(run) {
  const link = el("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, run.id);
  return el(
    "tr",
    { "data-run": run.id },
    el("td", {}, link),
    el("td", {}, run.workflow || ""),
    el("td", {}, run.version ?? ""),
    el("td", {}, statusBadge(run.status)),
    el("td", {}, when(run.started_at)),
    el("td", {}, when(run.ended_at)),
  );
}
