// #/runs: the tenant's runs, newest first, filtered by workflow and status, polled every 2 s,
// a page at a time (?page_size=N, default 50; Older/Newer walk Temporal's page tokens).
import { api, detail } from "./api.js";
import { el, fill, statusBadge, when } from "./dom.js";

const STATUSES = ["running", "paused", "stalled", "succeeded", "failed", "cancelled", "terminated", "timed_out"];

export function runsPage(view, params) {
  const workflow = el("select", { id: "filter-workflow" }, el("option", { value: "" }, "all"));
  const status = el(
    "select",
    { id: "filter-status" },
    el("option", { value: "" }, "all"),
    STATUSES.map((s) => el("option", { value: s }, s)),
  );
  workflow.value = params.get("workflow") || "";
  status.value = params.get("status") || "";
  const pageSize = Math.min(Math.max(Number(params.get("page_size")) || 50, 1), 1000);
  const body = el("tbody");
  const note = el("p", { class: "muted" });
  // tokens[i] fetches page i (tokens[0] is null: the newest runs); next is the page after.
  const paging = { tokens: [null], next: null };
  const newer = el("button", { id: "runs-newer", type: "button", class: "secondary" }, "← Newer");
  const older = el("button", { id: "runs-older", type: "button", class: "secondary" }, "Older →");
  const pageNote = el("span", { class: "muted", id: "runs-page" });
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
    el("div", { class: "pager" }, newer, pageNote, older),
  );
  api("/v1/workflows").then(({ ok, body: data }) => {
    if (!ok) return;
    for (const w of data.workflows) workflow.append(el("option", { value: w.name }, w.name));
    workflow.value = params.get("workflow") || "";
  });
  let timer = null;
  let stopped = false;
  let ticket = 0; // only the newest request's answer is shown
  async function refresh() {
    clearTimeout(timer);
    const mine = ++ticket;
    const query = new URLSearchParams();
    if (workflow.value) query.set("workflow", workflow.value);
    if (status.value) query.set("status", status.value);
    query.set("page_size", String(pageSize));
    const page = paging.tokens.length - 1;
    if (paging.tokens[page]) query.set("page_token", paging.tokens[page]);
    const { ok, body: data } = await api(`/v1/runs?${query}`);
    if (stopped || mine !== ticket) return;
    if (ok) {
      fill(body, ...data.runs.map(row));
      note.textContent = data.runs.length ? "" : page ? "No older runs." : "No runs yet.";
      paging.next = data.next_page_token || null;
    } else {
      note.textContent = detail(data);
      paging.next = null;
    }
    newer.disabled = page === 0;
    older.disabled = !paging.next;
    pageNote.textContent = `page ${page + 1}`;
    timer = setTimeout(refresh, 2000);
  }
  function restart() {
    paging.tokens = [null];
    refresh();
  }
  older.addEventListener("click", () => {
    if (!paging.next) return;
    paging.tokens.push(paging.next);
    refresh();
  });
  newer.addEventListener("click", () => {
    if (paging.tokens.length > 1) paging.tokens.pop();
    refresh();
  });
  workflow.addEventListener("change", restart);
  status.addEventListener("change", restart);
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
