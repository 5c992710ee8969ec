// The client router: #/runs, #/runs/<id>, #/workflows, #/workflows/<name>/<version>.
import { apiKey, setApiKey, showBanner } from "./api.js";
import { definitionPage, definitionsPage } from "./definitions.js";
import { runPage } from "./run.js";
import { runsPage } from "./runs.js";

let leave = null;

function route() {
  if (leave) leave();
  leave = null;
  showBanner("");
  const view = document.getElementById("view");
  const [path, query = ""] = (location.hash.slice(1) || "/runs").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === parts[0]);
  }
  if (parts[0] === "runs" && parts[1]) leave = runPage(view, parts[1]);
  else if (parts[0] === "workflows" && parts[1]) leave = definitionPage(view, parts[1], parts[2]);
  else if (parts[0] === "workflows") leave = definitionsPage(view);
  else leave = runsPage(view, params);
}

const keyInput = document.getElementById("api-key");
keyInput.value = apiKey();
document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setApiKey(keyInput.value.trim());
  route();
});
window.addEventListener("hashchange", route);
route();
