// #/runs/<id>: the graph coloured live from the event stream, progress, the steps with their
// details, a form for each human step waiting for an answer, and the events it waits for.
import { api, detail, follow } from "./api.js";
import { breakpointEditor, heldAt, markBreakpoints } from "./breakpoints.js";
import { compensateButton, compensationBlock, hasCompensations, mayCompensate }
  from "./compensation.js";
import { duration, el, fill, pretty, statusBadge, when } from "./dom.js";
import { pendingEventRows, pendingEventsBlock } from "./events.js";
import { forkFromHere } from "./fork.js";
import { schemaForm, showError } from "./forms.js";
import { loadGraph, setSelected, setStatus } from "./graph.js";
import { scheduledBy } from "./schedules.js";
import { upgradeControl, upgradedNote } from "./upgrade.js";

const DONE = new Set(["succeeded", "failed", "skipped", "cancelled"]);
const EVENT_STATUS = {
  step_started: "running",
  step_retrying: "running",
  step_waiting: "waiting",
  step_queued: "queued",
  step_granted: "running",
  breakpoint_hit: "at_breakpoint",
  step_succeeded: "succeeded",
  step_failed: "failed",
  step_skipped: "skipped",
  step_cancelled: "cancelled",
};

export function runPage(view, runId) {
  const path = `/v1/runs/${encodeURIComponent(runId)}`;
  const state = { run: null, seen: {}, retries: {}, selected: null, forms: {}, held: {} };
  const graphUrl = `/ui/graph/run/${encodeURIComponent(runId)}.svg`;
  const head = el("div", { class: "run-head" });
  const cancelButton = el("button", { id: "cancel-run", type: "button", class: "danger",
    onclick: () => cancelRun() }, "Cancel run");
  const pauseButton = el("button", { id: "pause-run", type: "button",
    onclick: () => pauseOrResume() }, "Pause run");
  const retryButton = el("button", { id: "retry-run", type: "button",
    onclick: () => retryRun() }, "Retry run");
  const actions = el("div", { class: "run-actions", hidden: true }, pauseButton, cancelButton,
    retryButton, el("span", { class: "form-error", hidden: true }));
  const compensate = compensateButton(path, actions);
  retryButton.after(compensate);
  const upgrader = upgradeControl(path, actions, async () => {
    await refresh();
    await loadGraph(graph, graphUrl, select).then(render);  // the new version's steps
  });
  pauseButton.after(upgrader.button);
  const bar = el("progress", { id: "run-progress", max: 1, value: 0, "aria-label": "progress" });
  const barText = el("span", { class: "progress-text" });
  const graph = el("div", { class: "graph", id: "graph" });
  const humans = el("section", { class: "humans" });
  const awaited = el("div", { class: "awaited" });
  const steps = el("tbody");
  const panel = el("aside", { class: "panel", id: "step-detail" }, el("p", { class: "muted" },
    "Click a step to see its input, output and timings."));
  fill(view,
    head,
    actions,
    el("div", { class: "progress" }, bar, barText),
    humans,
    awaited,
    el("div", { class: "run-body" }, graph, panel),
    el("h2", {}, "Steps"),
    el("table", { class: "steps" }, el("thead", {}, el("tr", {},
      ["Step", "Kind", "Status", "Attempts", "Retries", "Elapsed"].map((h) => el("th", {}, h)))),
    steps),
  );

  const select = (step) => {
    state.selected = step;
    setSelected(graph, step);
    render();
  };

  function statusOf(step) {
    const seen = state.seen[step];
    const fromRun = state.run?.steps?.[step]?.status;
    if (seen && (state.run?.last_seq ?? 0) < seen.seq) return seen.status;
    return fromRun || seen?.status || "pending";
  }

  function render() {
    const run = state.run;
    if (!run) return;
    const ids = Object.keys(run.steps || {});
    for (const node of graph.querySelectorAll("g.step")) {
      if (!ids.includes(node.dataset.step)) ids.push(node.dataset.step);
    }
    for (const step of ids) setStatus(graph, step, statusOf(step));
    markBreakpoints(graph, run);
    if (heldAt(run) && !state.selected) state.selected = heldAt(run).step;  // show what it holds
    setSelected(graph, state.selected);
    const done = ids.filter((s) => DONE.has(statusOf(s))).length;
    bar.max = Math.max(ids.length, 1);
    bar.value = done;
    const unknown = run.steps_source === "definition" && run.last_seq == null;
    barText.textContent = `${done} / ${ids.length} steps done` +
      (unknown ? " (no worker answered: step statuses unknown)" : "");
    renderHead(head, run);
    const live = ["running", "stalled", "paused"].includes(run.status);
    const retryable = ["failed", "cancelled", "timed_out"].includes(run.status);
    actions.hidden = !live && !retryable;
    cancelButton.hidden = !live;
    retryButton.hidden = !retryable;
    pauseButton.hidden = !["running", "paused"].includes(run.status);
    pauseButton.disabled = false;
    pauseButton.textContent = run.status === "paused" ? "Resume run" : "Pause run";
    compensate.hidden = !(mayCompensate(run) && state.compensable === true);
    if (mayCompensate(run) && state.compensable === undefined) {
      state.compensable = null;  // asked once
      hasCompensations(run).then((has) => { state.compensable = has; render(); });
    }
    upgrader.update(run);
    fill(steps, ...ids.map((id) => stepRow(id, run.steps?.[id], statusOf(id))));
    renderHumans();
    fill(awaited, pendingEventsBlock(run, select));
    renderPanel();
  }

  // Retries seen as step_retrying events, or known from the attempts of a step.
  function retries(id) {
    return Math.max(state.retries[id] || 0, (state.run?.steps?.[id]?.attempts || 1) - 1);
  }

  function stepRow(id, step, status) {
    const row = el(
      "tr",
      { "data-step": id, class: id === state.selected ? "selected" : "", onclick: () => select(id) },
      el("td", {}, el("a", { href: "javascript:void 0" }, id)),
      el("td", {}, step?.kind || ""),
      el("td", {}, statusBadge(status)),
      el("td", {}, step?.attempts ?? ""),
      el("td", { class: "retries" }, retries(id) ? String(retries(id)) : ""),
      el("td", { class: "elapsed" }),
    );
    row.dataset.status = status;
    row.dataset.started = step?.started_at || state.seen[id]?.at || "";
    row.dataset.ended = step?.ended_at || "";
    tick(row);
    return row;
  }

  function tick(row) {
    const cell = row.querySelector(".elapsed");
    const started = row.dataset.started;
    if (!started) return;
    const end = row.dataset.ended
      ? Date.parse(row.dataset.ended)
      : ["running", "waiting"].includes(row.dataset.status) ? Date.now() : null;
    cell.textContent = end === null ? "" : duration(end - Date.parse(started));
  }

  function renderHumans() {
    const open = ["running", "paused"].includes(state.run.status);  // a paused run takes answers
    const pending = open ? state.run.pending_human || [] : [];
    const names = new Set(pending.map((p) => p.step));
    for (const step of Object.keys(state.forms)) {
      if (!names.has(step)) {
        state.forms[step].remove();
        delete state.forms[step];
      }
    }
    for (const item of pending) {
      if (state.forms[item.step]) continue;
      const { form } = schemaForm(item.form || {}, {
        submitLabel: "Send answer",
        onSubmit: (data, formNode) => answer(item.step, data, formNode),
      });
      const prompt = typeof item.prompt === "string" ? item.prompt : pretty(item.prompt);
      const box = el(
        "div",
        { class: "human", "data-step": item.step },
        el("h2", {}, `Waiting for you: ${item.step}`),
        el("p", { class: "prompt" }, prompt),
        item.timeout_at ? el("p", { class: "muted" }, `Answer before ${when(item.timeout_at)}`)
          : null,
        form,
      );
      state.forms[item.step] = box;
      humans.append(box);
    }
  }

  async function answer(step, data, form) {
    const url = `${path}/steps/${encodeURIComponent(step)}/respond`;
    const { ok, body } = await api(url, { method: "POST", json: { data } });
    if (!ok) {
      showError(form, detail(body));
      return;
    }
    state.forms[step]?.remove();
    delete state.forms[step];
    await refresh();
  }

  // Ask the run to cancel (after a confirmation); the API's refusal shows in place.
  async function cancelRun() {
    if (!window.confirm(`Cancel run ${runId}? Its running steps are cancelled.`)) return;
    cancelButton.disabled = true;
    const { ok, body } = await api(`${path}/cancel`, { method: "POST" });
    if (!ok) {
      cancelButton.disabled = false;
      showError(actions, detail(body));
      return;
    }
    showError(actions, "");
    cancelButton.textContent = "Cancelling…";
    await refresh();
  }

  // Pause a running run (it starts nothing new; running steps finish) or resume a paused one.
  async function pauseOrResume() {
    const action = state.run?.status === "paused" ? "resume" : "pause";
    pauseButton.disabled = true;
    const { ok, body } = await api(`${path}/${action}`, { method: "POST", json: {} });
    if (!ok) {
      pauseButton.disabled = false;
      showError(actions, detail(body));
      return;
    }
    showError(actions, "");
    await refresh();
  }

  // Retry an ended run (the steps that did not succeed run again, the others are taken over)
  // and open the new run.
  async function retryRun(json = {}, button = retryButton, errors = actions) {
    button.disabled = true;
    const { ok, body } = await api(`${path}/retry`, { method: "POST", json });
    button.disabled = false;
    if (!ok) {
      showError(errors, detail(body));
      return;
    }
    showError(errors, "");
    openRun(body.run_id);
  }

  function openRun(id) {
    window.location.hash = `#/runs/${encodeURIComponent(id)}`;
  }

  // "Retry from here" on a step of an ended run: that step and everything after it run again.
  function retryFromHere(id) {
    const ended = ["succeeded", "failed", "cancelled", "timed_out"].includes(state.run.status);
    if (!ended) return null;
    const box = el("div", { class: "step-actions" });
    const button = el("button", { type: "button", id: "retry-from-here",
      onclick: () => retryRun({ from: id }, button, box) }, "Retry from here");
    box.append(button, el("span", { class: "form-error", hidden: true }));
    return box;
  }

  // Kept while the same step stays selected, so that a render does not drop an edit.
  function forkBox(id) {
    const { status } = state.run;
    if (state.fork?.id !== id || state.fork.status !== status) {
      state.fork = { id, status, node: forkFromHere(state.run, id, path, openRun) };
    }
    return state.fork.node;
  }

  function renderPanel() {
    const id = state.selected;
    if (!id) return;
    const step = state.run.steps?.[id] || {};
    const output = step.output;
    const usage = output && typeof output === "object" ? output.usage : null;
    const cost = output && typeof output === "object" ? output.cost_usd : null;
    const rows = [
      ["Status", statusBadge(statusOf(id))],
      ["Kind", step.kind || ""],
      ["Attempts", step.attempts ?? ""],
      ["Retries", retries(id)],
      ["Started", when(step.started_at)],
      ["Ended", when(step.ended_at)],
      ["Duration", step.started_at && step.ended_at
        ? duration(Date.parse(step.ended_at) - Date.parse(step.started_at)) : ""],
      ["Tokens", usage ? `${usage.input_tokens ?? 0} in / ${usage.output_tokens ?? 0} out` : "—"],
      ["Cost", typeof cost === "number" ? `$${cost.toFixed(4)}` : "—"],
    ];
    if (step.progress) rows.push(["Items", pretty(step.progress)]);
    rows.push(...pendingEventRows(state.run, id));
    fill(panel,
      el("h2", {}, id),
      el("dl", {}, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      breakpointEditor(state.held, state.run, id, path, refresh),
      valueBlock("Input", step.input, id, "input"),
      valueBlock("Output", step.output, id, "output"),
      step.error ? block("Error", step.error, "error") : null,
      retryFromHere(id),
      forkBox(id),
    );
  }

  // A value the run view shows as {"$truncated": true, "size": N} (docs/api.md) is fetched
  // whole from /v1/runs/<id>/steps/<step> when asked for.
  function valueBlock(title, value, stepId, field) {
    if (!isTruncated(value)) return block(title, value);
    const pre = el("pre", { class: "truncated" }, `${size(value.size)}: too large for the run view.`);
    const button = el("button", { type: "button", class: "load-whole", onclick: async () => {
      button.disabled = true;
      const { ok, body } = await api(`${path}/steps/${encodeURIComponent(stepId)}`);
      if (ok) {
        fill(pre, pretty(body[field]));
        pre.classList.remove("truncated");
        button.remove();
      } else {
        fill(pre, detail(body));
        button.disabled = false;
      }
    } }, "Show it whole");
    return el("section", { class: "block" }, el("h3", {}, title), pre, button);
  }

  async function refresh() {
    const { ok, body } = await api(path);
    if (!ok) {
      fill(view, el("h1", {}, runId), el("p", { class: "form-error" }, detail(body)));
      return false;
    }
    state.run = body;
    render();
    return true;
  }

  function onEvent(type, data) {
    if (data.step && EVENT_STATUS[type]) {
      state.seen[data.step] = { status: EVENT_STATUS[type], seq: data.seq, at: data.at };
      if (type === "step_retrying") state.retries[data.step] = (state.retries[data.step] || 0) + 1;
      render();
    }
    if (["step_waiting", "step_succeeded", "step_failed"].includes(type) || type.startsWith("run_")
      || type.startsWith("breakpoint_")
      || type.includes("compensat")) {  // compensation.js shows the compensation as it goes
      refresh();
    }
  }

  let stop = null;
  const clock = setInterval(() => steps.querySelectorAll("tr").forEach(tick), 500);
  refresh().then((found) => {
    if (!found) return;
    loadGraph(graph, graphUrl, select).then(render);
    stop = follow(runId, onEvent);
  });
  return () => {
    clearInterval(clock);
    if (stop) stop();
  };
}

function renderHead(head, run) {
  const end = run.ended_at ? Date.parse(run.ended_at) : Date.now();
  const elapsed = run.started_at ? duration(end - Date.parse(run.started_at)) : "";
  const workflow = run.workflow
    ? el("a", { href: `#/workflows/${encodeURIComponent(run.workflow)}/${run.version}` },
      `${run.workflow} v${run.version}`)
    : "";
  fill(head,
    el("h1", {}, "Run ", el("code", {}, run.id)),
    el("p", { class: "meta" }, statusBadge(run.status), " ", workflow,
      ` · started ${when(run.started_at)}`, elapsed ? ` · ${elapsed}` : "",
      run.usage?.input_tokens || run.usage?.output_tokens
        ? ` · ${run.usage.input_tokens} in / ${run.usage.output_tokens} out tokens` : "",
      run.cost_usd ? ` · $${run.cost_usd.toFixed(4)}` : ""),
    lineage(run),
    compensationBlock(run),
    scheduledBy(run),
    upgradedNote(run),
    run.error ? el("p", { class: "form-error" }, `${run.error.type}: ${run.error.message}`) : null,
    run.status === "succeeded" ? block("Result", run.result) : null,
  );
}

// "retry of X" / "fork of X" / "compensation of X" and "retried as Y, Z", as links to those runs.
function lineage(run) {
  const link = (id) => el("a", { href: `#/runs/${encodeURIComponent(id)}` }, id);
  const parts = [];
  if (run.retry_of) {
    const from = run.retry_of.from ? ` from ${run.retry_of.from}` : "";
    const kind = { fork: "fork", compensate: "compensation" }[run.retry_of.mode] || "retry";
    parts.push(`${kind} of `, link(run.retry_of.run_id),
      from);
  }
  const retries = run.retries || [];
  if (retries.length) {
    if (parts.length) parts.push(" · ");
    parts.push("retried as ");
    retries.forEach((id, i) => parts.push(...(i ? [", "] : []), link(id)));
  }
  return parts.length ? el("p", { class: "lineage" }, ...parts) : null;
}

function isTruncated(value) {
  return value !== null && typeof value === "object" && value.$truncated === true
    && typeof value.size === "number";
}

function size(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${bytes} bytes`;
}

function block(title, value, cls = "") {
  return el("section", { class: `block ${cls}` }, el("h3", {}, title),
    el("pre", {}, value === undefined || value === null ? "—" : pretty(value)));
}
