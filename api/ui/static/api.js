// The API seen from the page: fetch with the stored key, and a run's event stream.
// EventSource cannot send headers, so events are read with fetch from a ReadableStream and
// a dropped stream is resumed with ?after=<last id>: nothing missed, nothing twice.

const KEY = "kworkflow.apiKey";

export function apiKey() {
  return localStorage.getItem(KEY) || "";
}

export function setApiKey(key) {
  if (key) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { "X-API-Key": key, ...extra } : extra;
}

// The answer as {ok, status, body}; body is parsed JSON, or text for other content types.
export async function api(path, { method = "GET", json, text, type } = {}) {
  const init = { method, headers: headers() };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (text !== undefined) {
    init.body = text;
    init.headers["Content-Type"] = type || "application/yaml";
  }
  const response = await fetch(path, init);
  const isJson = (response.headers.get("content-type") || "").includes("json");
  const body = isJson ? await response.json() : await response.text();
  if (response.status === 401) showBanner(`The API needs a key: ${detail(body)}`);
  return { ok: response.ok, status: response.status, body };
}

// The human-readable message of an error body ({detail: "..."} or FastAPI's list).
export function detail(body) {
  if (body && typeof body === "object" && "detail" in body) {
    const d = body.detail;
    if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ");
    return String(d);
  }
  return typeof body === "string" ? body : JSON.stringify(body);
}

export function showBanner(message) {
  const banner = document.getElementById("banner");
  banner.textContent = message;
  banner.hidden = !message;
}

// Follow a run's events; onEvent(type, data) for each. Returns a function that stops it.
export function follow(runId, onEvent) {
  let last = 0;
  let stopped = false;
  let controller = null;
  async function connect() {
    while (!stopped) {
      controller = new AbortController();
      let ended = false;
      try {
        const url = `/v1/runs/${encodeURIComponent(runId)}/events?after=${last}`;
        const response = await fetch(url, { headers: headers(), signal: controller.signal });
        if (!response.ok) return;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const event = parse(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
            if (!event) continue;
            if (event.id) last = Number(event.id);
            const goesOn = ["run_stalled", "run_paused", "run_resumed", "run_upgraded"]
              .includes(event.type);
            if (event.type.startsWith("run_") && !goesOn) ended = true;
            onEvent(event.type, event.data);
          }
        }
      } catch (error) {
        if (stopped) return;
      }
      if (ended) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  connect();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}

function parse(block) {
  const fields = {};
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const name = at < 0 ? line : line.slice(0, at);
    fields[name] = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
  }
  if (!("data" in fields)) return null;
  return { id: fields.id, type: fields.event || "message", data: JSON.parse(fields.data) };
}
