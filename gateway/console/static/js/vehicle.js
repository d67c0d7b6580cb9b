// One vehicle: its state (each property with its own timestamp), commands, live events and record history.

import {
  api, ask, coalesced, formatValue, get, h, kebab, latestTimestamp, liveEvents, modelName, problemBox, showIn,
  statusBadge, vehicleModels, when,
} from "./api.js";

// Commands that change neither whether the vehicle can be driven nor whether it can be opened.
// Every other command, including ones a later catalog adds, asks first.
const HARMLESS = new Set(["REQUEST_VEHICLE_STATE", "DRAW_ATTENTION", "LOCK_TOP_CASE"]);
const EVENTS_SHOWN = 50;
const HISTORY_MINUTES = 10;

function localInput(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

function rawCell(raw) {
  const undecoded = raw?.undecoded;
  if (undecoded) {
    return h("td", { class: "raw" }, h("strong", {}, `undecoded ${undecoded.message_type}`),
      undecoded.detail ? ` (${undecoded.detail})` : "", h("code", { class: "hex" }, undecoded.hex));
  }
  return h("td", { class: "raw" }, h("code", {}, JSON.stringify(raw)));
}

function eventSummary(type, event) {
  const data = event.data || {};
  if (type === "VehicleStateRecorded") {
    return Object.entries(data).map(([name, entry]) => `${name} ${formatValue(name, entry.value)}`).join(" · ");
  }
  if (type === "VehicleChanged") {
    return (data.reasons || []).join(", ") + (data.life_status ? ` → ${data.life_status}` : "");
  }
  if (type === "CommandExecuted") return `${data.command} ${data.result} in ${data.duration_ms} ms`;
  return JSON.stringify(data);
}

export function vehiclePage(view, vehicleId) {
  const url = `/vehicles/${encodeURIComponent(vehicleId)}`;
  const title = h("h1", {}, `Vehicle ${vehicleId}`);
  const summary = h("dl", { class: "summary" });
  const message = h("div");
  const commands = h("div", { class: "commands" });
  const commandResult = h("div", { id: "command-result" });
  const stateBody = h("tbody");
  const eventList = h("ol", { id: "events", class: "events" });
  const from = h("input", { type: "datetime-local", "aria-label": "From" });
  const to = h("input", { type: "datetime-local", "aria-label": "To" });
  const historyBody = h("tbody");
  const historyMore = h("button", { type: "button", hidden: true }, "Next page");
  const historyMessage = h("div");
  let vehicle = null;
  let historyToken = null;

  view.append(title, message, summary,
    h("section", {}, h("h2", {}, "Commands"), commands, commandResult),
    h("section", {}, h("h2", {}, "State"),
      h("table", { id: "state" }, h("thead", {}, h("tr", {}, h("th", {}, "Property"), h("th", {}, "Value"),
        h("th", {}, "Reported at"))), stateBody)),
    h("section", {}, h("h2", {}, "Events (live)"), eventList),
    h("section", {}, h("h2", {}, "Record history"),
      h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); loadHistory(true); } },
        h("label", {}, "From ", from), h("label", {}, "to ", to), h("button", {}, "Show")),
      historyMessage,
      h("table", { id: "history" }, h("thead", {}, h("tr", {}, ...["Recorded at", "Received at", "State", "Raw fields"]
        .map((t) => h("th", {}, t)))), historyBody),
      historyMore));

  function renderSummary(models, state) {
    const unit = vehicle.telematics_unit;
    const master = Object.entries(vehicle.master_data).filter(([k]) => k !== "modified_at");
    const item = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
    const next = vehicle.operation_status.value === "GARAGE" ? "OPERATING" : "GARAGE";
    summary.replaceChildren(
      ...item("Life status", statusBadge(vehicle.life_status.value), " since ", when(vehicle.life_status.modified_at)),
      ...item("Operation status", statusBadge(vehicle.operation_status.value), " ",
        h("button", { type: "button", onclick: () => setOperation(next) }, `Set ${next}`)),
      ...item("Unit", `${unit.brand} ${unit.id}`, " attached ", when(unit.attached_at)),
      ...item("Model", modelName(models.get(unit.vehicle_model_id))),
      ...item("Last contact", vehicle.life_status.value === "ONLINE" ? "connected now" : when(latestTimestamp(state))),
      ...master.flatMap(([k, v]) => item(k.replaceAll("_", " "), String(v))),
      ...(vehicle.tags.length ? item("Tags", vehicle.tags.join(", ")) : []),
      ...item("", h("button", { type: "button", class: "danger", onclick: remove }, "Remove vehicle")));
    const name = vehicle.master_data.license_plate || vehicle.master_data.custom_name;
    title.textContent = `Vehicle ${vehicle.id}${name ? ` · ${name}` : ""}`;
  }

  function renderState(state) {
    const listed = vehicle ? vehicle.capabilities.vehicle_state.map((c) => c.toLowerCase()) : Object.keys(state);
    const names = [...new Set([...listed, ...Object.keys(state)])].filter((n) => n in state);
    stateBody.replaceChildren(...names.map((name) => h("tr", { dataset: { property: name } },
      h("th", {}, name), h("td", {}, formatValue(name, state[name].value)), h("td", {}, when(state[name].timestamp)))));
    if (!names.length) stateBody.append(h("tr", {}, h("td", { colspan: 3, class: "muted" }, "No state reported yet.")));
  }

  function renderCommands() {
    commands.replaceChildren(...vehicle.capabilities.commands.map((capability) => h("button", {
      type: "button", class: HARMLESS.has(capability) ? "" : "danger", dataset: { command: kebab(capability) },
      onclick: () => command(capability),
    }, kebab(capability))));
    if (!vehicle.capabilities.commands.length) commands.append(h("p", { class: "muted" }, "This model lists no commands."));
  }

  async function load() {
    try {
      const [models, fresh, state] = await Promise.all([vehicleModels(), get(url), get(`${url}/state`)]);
      vehicle = fresh;
      renderSummary(models, state);
      renderState(state);
      renderCommands();
      showIn(message);
    } catch (error) {
      showIn(message, problemBox(error));
    }
  }

  async function command(capability) {
    const name = kebab(capability);
    if (!HARMLESS.has(capability)) {
      const sure = await ask({ title: `Send ${name}?`, confirm: `Send ${name}`, danger: true,
        message: `This goes to vehicle ${vehicle.id} (${vehicle.telematics_unit.brand} ${vehicle.telematics_unit.id}) at once.` });
      if (!sure) return;
    }
    for (const button of commands.querySelectorAll("button")) button.disabled = true;
    showIn(commandResult, h("p", { class: "muted" }, `${name}: waiting for the unit …`));
    try {
      const state = await api("POST", `${url}/commands/${name}`);
      renderState(state);
      showIn(commandResult, h("p", { class: "ok", role: "status" }, `${name}: done`));
    } catch (error) {
      showIn(commandResult, problemBox(error));
    } finally {
      for (const button of commands.querySelectorAll("button")) button.disabled = false;
    }
  }

  async function setOperation(value) {
    try {
      await api("PATCH", url, { operation_status: value });
      await load();
    } catch (error) {
      showIn(message, problemBox(error));
    }
  }

  async function remove() {
    const sure = await ask({ title: `Remove vehicle ${vehicle.id}?`, confirm: "Remove", danger: true,
      message: "Its unit is detached (it becomes available again) and its live session is closed." });
    if (!sure) return;
    try {
      await api("DELETE", url);
      location.hash = "#/fleet";
    } catch (error) {
      showIn(message, problemBox(error));
    }
  }

  async function loadHistory(fresh) {
    if (fresh) historyToken = null;
    const query = new URLSearchParams({ limit: 100 });
    if (from.value) query.set("from", new Date(from.value).toISOString());
    if (to.value) query.set("to", new Date(to.value).toISOString());
    if (historyToken) query.set("page_token", historyToken);
    try {
      const page = await get(`${url}/records?${query}`);
      historyToken = page.next_page_token;
      const rows = page.items.map((record) => h("tr", {},
        h("td", {}, record.recorded_at || "–"), h("td", {}, record.received_at),
        h("td", {}, Object.entries(record.state || {}).map(([k, v]) => `${k} ${formatValue(k, v)}`).join(" · ")),
        rawCell(record.raw)));
      if (fresh) historyBody.replaceChildren(...rows);
      else historyBody.append(...rows);
      if (fresh && !rows.length) historyBody.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No records in this window.")));
      historyMore.hidden = !historyToken;
      showIn(historyMessage);
    } catch (error) {
      showIn(historyMessage, problemBox(error));
    }
  }
  historyMore.addEventListener("click", () => loadHistory(false));

  const reloadState = coalesced(async () => {
    try {
      renderState(await get(`${url}/state`));
    } catch { /* the next event tries again */ }
  }, 300);
  const reloadVehicle = coalesced(load, 300);
  // An open-ended window on its only page follows the records as they come.
  const reloadHistory = coalesced(() => { if (!to.value && !historyToken) loadHistory(true); }, 1000);
  const close = liveEvents({ vehicle_id: vehicleId }, (type, event) => {
    eventList.prepend(h("li", {}, when(event.occurred_at), " ", h("strong", {}, type), " ", eventSummary(type, event)));
    while (eventList.children.length > EVENTS_SHOWN) eventList.lastChild.remove();
    if (type === "VehicleStateRecorded") {
      reloadState();
      reloadHistory();
    }
    if (type === "VehicleChanged") reloadVehicle();
  }, () => reloadVehicle());

  from.value = localInput(new Date(Date.now() - HISTORY_MINUTES * 60000));
  load();
  loadHistory(true);
  return close;
}
