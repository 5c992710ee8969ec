// The server-drawn SVG graph: load it inline, colour steps by status, report clicks.
import { api } from "./api.js";
import { el, fill } from "./dom.js";

export async function loadGraph(container, url, onSelect) {
  const { ok, body } = await api(url);
  fill(container);
  if (!ok) {
    container.append(el("p", { class: "muted" }, "The graph is not available."));
    return;
  }
  const doc = new DOMParser().parseFromString(body, "image/svg+xml");
  const svg = document.importNode(doc.documentElement, true);
  container.append(svg);
  for (const node of svg.querySelectorAll("g.step")) {
    const select = () => onSelect && onSelect(node.dataset.step);
    node.addEventListener("click", select);
    node.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && select());
  }
}

export function setStatus(container, step, status) {
  const node = container.querySelector(`g.step[data-step="${CSS.escape(step)}"]`);
  if (!node) return;
  for (const cls of [...node.classList]) if (cls.startsWith("status-")) node.classList.remove(cls);
  node.classList.add(`status-${status}`);
}

export function setSelected(container, step) {
  for (const node of container.querySelectorAll("g.step")) {
    node.classList.toggle("selected", node.dataset.step === step);
  }
}
