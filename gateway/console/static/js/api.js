// The public admin API (API.md) as the console uses it, and the few DOM helpers every page shares.
// Text from the gateway (unit ids, raw fields) only ever reaches the page as text nodes.

class Problem extends Error {
  constructor(status, body) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.type = body.type || "";
    this.title = body.title || `HTTP ${status}`;
  }
}

export async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const text = await response.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text };
  }
  if (!response.ok) throw new Problem(response.status, parsed || {});
  return parsed;
}

export const get = (path) => api("GET", path);

// Every item of a paged list, up to `max`.
export async function allItems(path, max = 5000) {
  const items = [];
  let token = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get(`${path}${sep}limit=500${token ? `&page_token=${encodeURIComponent(token)}` : ""}`);
    items.push(...page.items);
    token = page.next_page_token;
  } while (token && items.length < max);
  return items;
}

// Run `work` over `items` with at most `width` requests in flight.
export async function eachLimited(items, width, work) {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++];
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
}

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// The problem of a failed request, as the API gave it.
export function problemBox(error) {
  if (error instanceof Problem) {
    const hint = error.status === 401 ? " Run `fleetgate console` again for a new login URL." : "";
    return h("div", { class: "problem", role: "alert" },
      h("strong", {}, `${error.status} ${error.title}`), " ", error.message + hint,
      error.type ? h("code", {}, error.type) : null);
  }
  return h("div", { class: "problem", role: "alert" }, h("strong", {}, "Request failed"), " ", String(error));
}

export function showIn(container, ...content) {
  container.replaceChildren(...content);
}

let models = null;
// Vehicle models by id, from every brand's catalog.
export async function vehicleModels() {
  if (!models) {
    const brands = (await get("/telematics-brands")).items;
    const lists = await Promise.all(brands.map((b) => get(`/telematics-brands/${b.brand}/available-vehicle-models`)));
    models = new Map(lists.flatMap((list) => list.items).map((m) => [m.id, m]));
  }
  return models;
}

export const modelName = (model) => (model ? `${model.vehicle_brand} ${model.vehicle_model}` : "unknown model");

export function kebab(capability) {
  return capability.toLowerCase().replaceAll("_", "-");
}

const UNITS = [["_in_percent", " %"], ["_in_kilometers_per_hour", " km/h"],
  ["_in_kilometers", " km"], ["_in_meters", " m"]];

export function formatValue(name, value) {
  if (value && typeof value === "object" && "lat" in value && "lon" in value) {
    return `${value.lat.toFixed(5)}, ${value.lon.toFixed(5)}`;
  }
  if (value === true) return "yes";
  if (value === false) return "no";
  if (typeof value === "object") return JSON.stringify(value);
  const unit = UNITS.find(([suffix]) => name.endsWith(suffix));
  return unit ? `${value}${unit[1]}` : String(value);
}

export function when(timestamp) {
  if (!timestamp) return "never";
  const seconds = Math.round((Date.now() - Date.parse(timestamp)) / 1000);
  const ago = seconds < 60 ? `${Math.max(seconds, 0)} s ago` : seconds < 3600 ? `${Math.round(seconds / 60)} min ago`
    : seconds < 86400 ? `${Math.round(seconds / 3600)} h ago` : `${Math.round(seconds / 86400)} d ago`;
  return h("time", { datetime: timestamp, title: timestamp }, ago);
}

export function latestTimestamp(state) {
  return Object.values(state || {}).map((entry) => entry.timestamp).sort().at(-1) || null;
}

export function statusBadge(value) {
  return h("span", { class: `badge ${value.toLowerCase()}` }, value);
}

// Ask before doing something; resolves to null when cancelled, else {secret}.
export function ask({ title, message, confirm, danger = false, secretLabel = null }) {
  const dialog = document.getElementById("ask");
  document.getElementById("ask-title").textContent = title;
  document.getElementById("ask-message").textContent = message;
  const label = document.getElementById("ask-secret-label");
  const secret = document.getElementById("ask-secret");
  label.hidden = !secretLabel;
  label.querySelector("span").textContent = secretLabel || "";
  secret.value = "";
  secret.required = Boolean(secretLabel);
  const button = document.getElementById("ask-confirm");
  button.textContent = confirm;
  button.className = danger ? "danger" : "";
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const value = secret.value;
      secret.value = "";
      resolve(dialog.returnValue === "confirm" ? { secret: value } : null);
    }, { once: true });
  });
}

// The live event stream; returns a function that closes it. The stream starts where the
// server stands when it answers, so anything that happened between the page's first load and
// then is only seen by loading again: `onOpen` runs once the stream is open. (A reconnect
// resumes from the last event id and misses nothing.)
export function liveEvents(params, onEvent, onOpen = () => {}) {
  const query = new URLSearchParams(params).toString();
  const source = new EventSource(`/events${query ? `?${query}` : ""}`);
  for (const type of ["VehicleStateRecorded", "VehicleChanged", "CommandExecuted", "UnitSeen"]) {
    source.addEventListener(type, (message) => onEvent(type, JSON.parse(message.data)));
  }
  const live = document.getElementById("gateway-info");
  let opened = false;
  source.addEventListener("open", () => {
    live.classList.remove("stale");
    if (!opened) onOpen();
    opened = true;
  });
  source.addEventListener("error", () => live.classList.add("stale"));
  return () => {
    source.close();
    live.classList.remove("stale");
  };
}

// Call `fn(key)` once, `ms` after the first of a burst of calls with that key: a steady stream
// of events (a unit reporting every second) still gets its refresh.
export function coalesced(fn, ms = 400) {
  const pending = new Set();
  return (key = "") => {
    if (pending.has(key)) return;
    pending.add(key);
    setTimeout(() => { pending.delete(key); fn(key); }, ms);
  };
}
