// The fleet: every vehicle with its life and operation status, model, last contact and battery.
// The search goes to the API (?q=); the status and brand filters narrow what was loaded.

import {
  coalesced, eachLimited, get, h, latestTimestamp, liveEvents, modelName, problemBox, showIn, statusBadge,
  vehicleModels, when,
} from "./api.js";

const PAGE_SIZE = 100;

export function fleetPage(view) {
  const rows = new Map(); // vehicle id -> {vehicle, state}
  let nextToken = null;
  let models = new Map();
  let loading = 0; // a search typed on while an older one loads: only the newest is shown

  const search = h("input", { type: "search", placeholder: "plate, VIN, name or unit id", "aria-label": "Search" });
  const life = h("select", { "aria-label": "Life status" },
    h("option", { value: "" }, "any life status"), h("option", {}, "ONLINE"), h("option", {}, "OFFLINE"));
  const operation = h("select", { "aria-label": "Operation status" },
    h("option", { value: "" }, "any operation status"), h("option", {}, "OPERATING"), h("option", {}, "GARAGE"));
  const brand = h("select", { "aria-label": "Brand" }, h("option", { value: "" }, "any brand"));
  const body = h("tbody");
  const count = h("span", { class: "muted" });
  const more = h("button", { type: "button", hidden: true, onclick: () => load(false) }, "Load more");
  const message = h("div");
  view.append(
    h("h1", {}, "Fleet"),
    h("div", { class: "toolbar" }, search, life, operation, brand, count),
    message,
    h("table", { id: "fleet" },
      h("thead", {}, h("tr", {}, ...["Vehicle", "Unit", "Model", "Life", "Operation", "Last contact", "Battery"]
        .map((title) => h("th", {}, title)))),
      body),
    more,
  );

  function row({ vehicle, state }) {
    const unit = vehicle.telematics_unit;
    const name = vehicle.master_data.license_plate || vehicle.master_data.custom_name || "";
    const battery = state?.fuel_level_in_percent?.value;
    return h("tr", { dataset: { vehicle: vehicle.id } },
      h("td", {}, h("a", { href: `#/vehicles/${vehicle.id}` }, vehicle.id), name ? ` ${name}` : ""),
      h("td", {}, `${unit.brand} ${unit.id}`),
      h("td", {}, modelName(models.get(unit.vehicle_model_id))),
      h("td", {}, statusBadge(vehicle.life_status.value)),
      h("td", {}, statusBadge(vehicle.operation_status.value)),
      h("td", {}, vehicle.life_status.value === "ONLINE" ? "connected now" : when(latestTimestamp(state))),
      h("td", { class: "number" }, battery === undefined ? "–" : `${battery} %`));
  }

  function render() {
    const shown = [...rows.values()].filter(({ vehicle }) =>
      (!life.value || vehicle.life_status.value === life.value)
      && (!operation.value || vehicle.operation_status.value === operation.value)
      && (!brand.value || vehicle.telematics_unit.brand === brand.value));
    body.replaceChildren(...shown.map(row));
    count.textContent = `${shown.length} of ${rows.size} loaded vehicles`;
    more.hidden = !nextToken;
  }

  async function withState(vehicle) {
    const state = await get(`/vehicles/${vehicle.id}/state`).catch(() => null); // null: shown as no contact
    return { vehicle, state };
  }

  async function load(fresh) {
    const mine = ++loading;
    try {
      models = await vehicleModels();
      const query = new URLSearchParams({ limit: PAGE_SIZE });
      if (search.value.trim()) query.set("q", search.value.trim());
      if (!fresh && nextToken) query.set("page_token", nextToken);
      const page = await get(`/vehicles?${query}`);
      const loaded = new Map();
      await eachLimited(page.items, 6, async (vehicle) => loaded.set(vehicle.id, await withState(vehicle)));
      if (mine !== loading) return;
      if (fresh) rows.clear();
      for (const vehicle of page.items) rows.set(vehicle.id, loaded.get(vehicle.id)); // in the API's order
      nextToken = page.next_page_token;
      showIn(message);
      render();
    } catch (error) {
      showIn(message, problemBox(error));
    }
  }

  async function refresh(vehicleId) {
    if (!rows.has(vehicleId)) return;
    try {
      rows.set(vehicleId, await withState(await get(`/vehicles/${vehicleId}`)));
    } catch {
      rows.delete(vehicleId); // removed meanwhile
    }
    render();
  }

  (async () => {
    const brands = (await get("/telematics-brands").catch(() => ({ items: [] }))).items;
    brand.append(...brands.map((b) => h("option", {}, b.brand)));
  })();
  const reload = coalesced(() => load(true), 300);
  search.addEventListener("input", () => reload());
  for (const filter of [life, operation, brand]) filter.addEventListener("change", render);
  const refreshSoon = coalesced(refresh, 500);
  const close = liveEvents({ event_types: "VehicleChanged,VehicleStateRecorded" }, (type, event) => {
    if (type === "VehicleChanged" && event.data.reasons?.includes("CREATED")) reload();
    else if (event.vehicle_id) refreshSoon(event.vehicle_id);
  }, () => reload());
  load(true);
  return close;
}
