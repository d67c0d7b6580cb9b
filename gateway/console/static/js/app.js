// The console's pages by location hash: #/fleet, #/map, #/vehicles/ID, #/onboarding, #/credentials.
// Each page renders into <main> and returns a function that stops what it started (event streams, timers).

import { get, h } from "./api.js";
import { credentialsPage } from "./credentials.js";
import { fleetPage } from "./fleet.js";
import { mapPage } from "./map.js";
import { onboardingPage } from "./onboarding.js";
import { vehiclePage } from "./vehicle.js";

const PAGES = { fleet: fleetPage, map: mapPage, onboarding: onboardingPage, credentials: credentialsPage };
let stop = () => {};

function route() {
  stop();
  const [, page = "fleet", id] = location.hash.split("/");
  const view = document.getElementById("view");
  view.replaceChildren();
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    link.classList.toggle("current", link.dataset.page === page || (page === "vehicles" && link.dataset.page === "fleet"));
  }
  const render = page === "vehicles" && id ? (v) => vehiclePage(v, decodeURIComponent(id)) : PAGES[page] || fleetPage;
  stop = render(view) || (() => {});
}

async function gatewayInfo() {
  const info = document.getElementById("gateway-info");
  try {
    const health = await get("/health");
    info.textContent = `fleet ${health.fleet_id} · fleetgate ${health.version}`;
  } catch (error) {
    info.replaceChildren(h("span", { class: "problem-inline" }, error.message));
  }
}

window.addEventListener("hashchange", route);
gatewayInfo();
route();
