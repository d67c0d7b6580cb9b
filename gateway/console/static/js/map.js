// Where the vehicles are: a Leaflet map (vendored) with online tiles when they load, else the same
// markers on a plain coordinate grid; the positions also as a table. Positions move live.

import { allItems, eachLimited, get, h, liveEvents, problemBox, showIn, when } from "./api.js";

const TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
const TILE_ATTRIBUTION = "© OpenStreetMap contributors";
const TILE_WAIT_MS = 3000;

function tilesReachable() {
  return new Promise((resolve) => {
    const probe = new Image();
    const timer = setTimeout(() => { probe.src = ""; resolve(false); }, TILE_WAIT_MS);
    probe.onload = () => { clearTimeout(timer); resolve(true); };
    probe.onerror = () => { clearTimeout(timer); resolve(false); };
    probe.src = TILES.replace("{z}/{x}/{y}", "0/0/0");
  });
}

// Latitude and longitude lines across the visible part of the map, redrawn as it moves, so that
// a map without tiles still reads as coordinates.
function niceStep(rough) {
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((f) => f * power).find((step) => step >= rough);
}

function drawGrid(map, layer) {
  layer.clearLayers();
  const bounds = map.getBounds();
  const [south, north, west, east] = [bounds.getSouth(), bounds.getNorth(), bounds.getWest(), bounds.getEast()];
  const step = niceStep(Math.max(north - south, east - west, 1e-6) / 6);
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  const line = { color: "#b9c1ca", weight: 1, interactive: false };
  const label = (at, text, direction) => L.tooltip({ permanent: true, direction, className: "grid-label" })
    .setLatLng(at).setContent(text).addTo(layer);
  for (let lat = Math.ceil(south / step) * step; lat <= north; lat += step) {
    L.polyline([[lat, west], [lat, east]], line).addTo(layer);
    label([lat, west], `${lat.toFixed(digits)}°`, "right");
  }
  for (let lon = Math.ceil(west / step) * step; lon <= east; lon += step) {
    L.polyline([[south, lon], [north, lon]], line).addTo(layer);
    label([south, lon], `${lon.toFixed(digits)}°`, "top");
  }
}

export function mapPage(view) {
  const note = h("p", { class: "muted" }, "Loading positions …");
  const container = h("div", { id: "map" });
  const body = h("tbody");
  const message = h("div");
  view.append(h("h1", {}, "Map"), note, message, container,
    h("table", { id: "positions" },
      h("thead", {}, h("tr", {}, ...["Vehicle", "Latitude", "Longitude", "Position at"].map((t) => h("th", {}, t)))),
      body));
  const map = L.map(container, { attributionControl: true }).setView([20, 0], 2);
  L.control.scale().addTo(map);
  const markers = new Map(); // vehicle id -> {marker, vehicle, position}

  function label(vehicle) {
    const name = vehicle.master_data.license_plate || vehicle.master_data.custom_name;
    return `${vehicle.id}${name ? ` ${name}` : ""}`;
  }

  function renderTable() {
    body.replaceChildren(...[...markers.values()].map(({ vehicle, position }) => h("tr", {},
      h("td", {}, h("a", { href: `#/vehicles/${vehicle.id}` }, label(vehicle))),
      h("td", { class: "number" }, position.value.lat.toFixed(5)),
      h("td", { class: "number" }, position.value.lon.toFixed(5)),
      h("td", {}, when(position.timestamp)))));
  }

  function place(vehicle, position) {
    const at = [position.value.lat, position.value.lon];
    const known = markers.get(vehicle.id);
    if (known) {
      known.marker.setLatLng(at);
      Object.assign(known, { vehicle, position });
      return;
    }
    const online = vehicle.life_status.value === "ONLINE";
    const marker = L.circleMarker(at, { radius: 7, color: online ? "#137333" : "#777", fillOpacity: 0.8 })
      .bindTooltip(h("span", {}, label(vehicle)), { permanent: true, direction: "top" })
      .on("click", () => { location.hash = `#/vehicles/${vehicle.id}`; })
      .addTo(map);
    markers.set(vehicle.id, { marker, vehicle, position });
  }

  async function load() {
    try {
      const vehicles = await allItems("/vehicles");
      await eachLimited(vehicles, 6, async (vehicle) => {
        const state = await get(`/vehicles/${vehicle.id}/state`).catch(() => ({}));
        if (state.position) place(vehicle, state.position);
      });
      renderTable();
      const points = [...markers.values()].map(({ position }) => [position.value.lat, position.value.lon]);
      if (points.length) map.fitBounds(L.latLngBounds(points).pad(0.2), { maxZoom: 15 });
    } catch (error) {
      showIn(message, problemBox(error));
    }
  }

  (async () => {
    const [, online] = await Promise.all([load(), tilesReachable()]);
    const count = `${markers.size} vehicles with a position`;
    if (online) {
      L.tileLayer(TILES, { maxZoom: 19, attribution: TILE_ATTRIBUTION }).addTo(map);
      note.textContent = count;
    } else {
      const grid = L.layerGroup().addTo(map);
      map.on("moveend", () => drawGrid(map, grid));
      drawGrid(map, grid);
      note.textContent = `${count}. Map tiles are unreachable: positions are drawn on a plain grid of latitude and longitude.`;
    }
  })();

  const close = liveEvents({ event_types: "VehicleStateRecorded" }, (type, event) => {
    const known = markers.get(event.vehicle_id);
    const position = event.data.position;
    if (known && position && position.timestamp >= known.position.timestamp) {
      place(known.vehicle, position);
      renderTable();
    }
  });
  return () => { close(); map.remove(); };
}
