// The definition editor over a textarea: completion of keys and values from the editor schema
// (GET /v1/schema, the same as docs/kworkflow.schema.json) and inline errors located at
// line:col from the server's lint (POST /v1/workflows/validate). No network beyond the API.
import { api } from "./api.js";
import { el, fill } from "./dom.js";

let schemaPromise = null;
function loadSchema() {
  schemaPromise ||= api("/v1/schema").then(({ ok, body }) =>
    ok ? (typeof body === "string" ? JSON.parse(body) : body) : null);
  return schemaPromise;
}

function resolve(root, node) {
  while (node && node.$ref) node = root.$defs[node.$ref.split("/").pop()];
  return node || {};
}

// The alternatives of a node that can be a mapping; a discriminated union picks by `kind`.
function objectOptions(root, node, kind) {
  node = resolve(root, node);
  const union = node.oneOf || node.anyOf;
  if (union && !node.properties) {
    const mapping = node.discriminator?.mapping;
    if (mapping && kind && mapping[kind]) return objectOptions(root, { $ref: mapping[kind] }, kind);
    return union.flatMap((o) => objectOptions(root, o, kind));
  }
  return node.type === "object" || node.properties ? [node] : [];
}

function child(root, node, key, kind) {
  for (const option of objectOptions(root, node, kind)) {
    if (key === "[]") {
      const items = resolve(root, option).items;
      if (items) return items;
    } else if (option.properties?.[key]) return option.properties[key];
    else if (option.additionalProperties && typeof option.additionalProperties === "object") {
      return option.additionalProperties;
    }
  }
  const arrays = [resolve(root, node), ...(resolve(root, node).anyOf || [])]
    .map((n) => resolve(root, n)).filter((n) => n.items);
  return key === "[]" && arrays.length ? arrays[0].items : null;
}

const indentOf = (line) => line.match(/^ */)[0].length;

// The keys from the document root to the mapping the cursor's line belongs to, and the `kind`
// of that mapping (from a sibling line), read from indentation.
function context(lines, row) {
  const line = lines[row];
  const item = line.match(/^( *)- /);
  let indent = item ? item[1].length + 2 : indentOf(line);
  const path = [];
  if (item) path.unshift("[]");
  let kind = null;
  const siblings = new Set();
  const start = item ? row : (() => {
    for (let r = row - 1; r >= 0; r -= 1) {
      const m = lines[r].match(/^( *)(- )?/);
      if (m[2] && m[1].length + 2 === indent) return r;
      if (indentOf(lines[r]) < indent && lines[r].trim()) return r + 1;
    }
    return 0;
  })();
  for (let r = start; r < lines.length; r += 1) {
    if (r > start && lines[r].trim() && indentOf(lines[r]) < indent) break;
    const sibling = indentOf(lines[r]) === indent || (r === start && lines[r].match(/^ *- /));
    const m = lines[r].match(/^ *(?:- )?([A-Za-z_]\w*):\s*([a-z]*)/);
    if (m && sibling && r !== row) {
      siblings.add(m[1]);
      if (m[1] === "kind" && m[2]) kind = m[2];
    }
  }
  if (!item && start > 0 && lines[start].match(/^ *- /)) path.unshift("[]");
  let level = lines[start].match(/^ *- /) ? indentOf(lines[start]) : indent;
  for (let r = start - 1; r >= 0; r -= 1) {
    const text = lines[r];
    if (!text.trim() || text.trim().startsWith("#")) continue;
    const m = text.match(/^( *)(- )?([A-Za-z_][\w-]*):\s*$/);
    const ind = indentOf(text);
    if (ind < level) {
      if (m) {
        path.unshift(m[3]);
        level = ind;
        if (m[2]) path.unshift("[]");
      } else if (text.match(/^ *- /)) {
        path.unshift("[]");
        level = ind;
      }
    }
  }
  return { path, kind, siblings };
}

export function suggestions(root, lines, row, col) {
  const before = lines[row].slice(0, col);
  const { path, kind, siblings } = context(lines, row);
  let node = root;
  for (const key of path) {
    node = child(root, node, key, null);
    if (!node) return { items: [], word: "" };
  }
  const value = before.match(/^ *(?:- )?([A-Za-z_]\w*):\s*(\w*)$/);
  if (value) {
    const prop = child(root, node, value[1], kind);
    const target = resolve(root, prop);
    const options = [target, ...(target.anyOf || []).map((o) => resolve(root, o))];
    let values = options.flatMap((o) => o.enum || (o.const !== undefined ? [o.const] : []));
    if (value[1] === "kind") {  // every kind of the union, whichever this mapping is now
      values = objectOptions(root, node, null).map((o) => o.properties?.kind?.const);
      values = values.filter(Boolean);
    }
    const matching = values.map(String).filter((v) => v.startsWith(value[2]) && v !== value[2]);
    return { items: matching, word: value[2] };
  }
  const key = before.match(/^ *(?:- )?([A-Za-z_]\w*)?$/);
  if (!key) return { items: [], word: "" };
  const keys = new Set();
  for (const option of objectOptions(root, node, kind)) {
    for (const name of Object.keys(option.properties || {})) keys.add(name);
  }
  const word = key[1] || "";
  const items = [...keys].filter((k) => k.startsWith(word) && k !== word && !siblings.has(k));
  return { items, word };
}

export function attachEditor(textarea) {
  const popup = el("ul", { id: "editor-completions", class: "completions", role: "listbox", hidden: "" });
  const gutter = el("div", { id: "editor-problems", class: "editor-problems", "aria-live": "polite" });
  let current = [];
  let selected = 0;
  const lines = () => textarea.value.split("\n");
  const cursor = () => {
    const upto = textarea.value.slice(0, textarea.selectionStart).split("\n");
    return { row: upto.length - 1, col: upto[upto.length - 1].length };
  };
  const close = () => { popup.hidden = true; current = []; };
  const accept = (text) => {
    const { word } = current;
    const pos = textarea.selectionStart;
    const isValue = /:\s*\w*$/.test(textarea.value.slice(0, pos).split("\n").pop());
    const insert = text.slice(word.length) + (isValue ? "" : ": ");
    textarea.setRangeText(insert, pos, pos, "end");
    close();
    textarea.dispatchEvent(new Event("input"));
  };
  const show = async () => {
    const root = await loadSchema();
    if (!root) return;
    const { row, col } = cursor();
    const found = suggestions(root, lines(), row, col);
    current = found;
    selected = 0;
    if (!found.items.length) { close(); return; }
    fill(popup, ...found.items.map((item, i) => el("li", {
      role: "option", "data-value": item, class: i === selected ? "selected" : "",
      onmousedown: (event) => { event.preventDefault(); accept(item); },
    }, item)));
    popup.hidden = false;
  };
  let timer = null;
  let asked = 0;  // only the answer to the latest text is shown
  const lint = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++asked;
      if (!textarea.value.trim()) { fill(gutter); return; }
      const type = textarea.value.trim().startsWith("{") ? "application/json" : "application/yaml";
      const { body } = await api("/v1/workflows/validate", { method: "POST", text: textarea.value, type });
      if (mine !== asked) return;
      const problems = (body?.problems || []).filter((p) => p.line);
      fill(gutter, ...problems.map((p) => el("div", {
        class: "inline-error", "data-line": String(p.line), "data-column": String(p.column || 1),
        onclick: () => {
          const offset = lines().slice(0, p.line - 1).reduce((n, l) => n + l.length + 1, 0);
          textarea.focus();
          textarea.setSelectionRange(offset + (p.column || 1) - 1, offset + (p.column || 1) - 1);
        },
      }, `${p.line}:${p.column || 1} `, el("code", {}, p.path || "(document)"), ` ${p.message}`)));
    }, 400);
  };
  textarea.addEventListener("input", () => { show(); lint(); });
  // No close on blur: the list is in the page's flow, and hiding it on a button's mousedown
  // would move the button before its mouseup, losing the click.
  textarea.addEventListener("keydown", (event) => {
    if (popup.hidden) {
      if (event.key === " " && event.ctrlKey) { event.preventDefault(); show(); }
      return;
    }
    const items = current.items;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      selected = (selected + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      [...popup.children].forEach((li, i) => li.classList.toggle("selected", i === selected));
    } else if (event.key === "Tab" || event.key === "Enter") {
      event.preventDefault();
      accept(items[selected]);
    } else if (event.key === "Escape") close();
  });
  return el("div", { class: "editor" }, textarea, popup, gutter);
}
