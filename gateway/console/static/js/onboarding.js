// Onboarding: the units each brand has seen (or its cloud lists) that are in no vehicle yet, and the
// form that registers one as a vehicle with its model and its password or credentials.

import { api, coalesced, get, h, liveEvents, modelName, problemBox, showIn, when } from "./api.js";

const KIND_HELP = {
  NONE: "known by its id alone",
  INDIVIDUAL: "a password per unit",
  SHARED: "stored credentials",
};

export function onboardingPage(view) {
  let brands = [];
  const lists = h("div");
  const message = h("div");
  const formMessage = h("div");
  const brand = h("select", { name: "brand", id: "register-brand", required: true });
  const unitId = h("input", { name: "unit_id", id: "register-unit", required: true, autocomplete: "off" });
  const model = h("select", { name: "model", id: "register-model", required: true });
  const password = h("input", { type: "password", id: "register-password", autocomplete: "new-password", maxlength: 64 });
  const credentials = h("select", { id: "register-credentials" });
  const plate = h("input", { id: "register-plate", maxlength: 30, autocomplete: "off" });
  const name = h("input", { id: "register-name", autocomplete: "off" });
  const passwordRow = h("label", { hidden: true }, "Unit password ", password);
  const credentialsRow = h("label", { hidden: true }, "Credentials ", credentials);
  const form = h("form", { id: "register", class: "card", onsubmit: register },
    h("h2", {}, "Register a unit as a vehicle"),
    h("label", {}, "Brand ", brand), h("label", {}, "Unit id ", unitId), h("label", {}, "Vehicle model ", model),
    passwordRow, credentialsRow, h("label", {}, "Licence plate ", plate), h("label", {}, "Custom name ", name),
    h("button", { id: "register-submit" }, "Register"), formMessage);
  view.append(h("h1", {}, "Onboarding"), message, lists, form);

  const chosen = () => brands.find((b) => b.brand === brand.value);

  async function brandChanged() {
    const info = chosen();
    if (!info) return;
    passwordRow.hidden = info.credential_kind !== "INDIVIDUAL";
    password.required = info.credential_kind === "INDIVIDUAL";
    credentialsRow.hidden = info.credential_kind !== "SHARED";
    credentials.required = info.credential_kind === "SHARED";
    try {
      const [models, creds] = await Promise.all([
        get(`/telematics-brands/${info.brand}/available-vehicle-models`),
        info.credential_kind === "SHARED" ? get(`/telematics-brands/${info.brand}/available-credentials`) : { items: [] },
      ]);
      model.replaceChildren(...models.items.map((m) => h("option", { value: m.id }, modelName(m))));
      credentials.replaceChildren(...creds.items.map((c) => h("option", { value: c.id },
        `${c.name} (${c.account || c.client_id})`)));
    } catch (error) {
      showIn(formMessage, problemBox(error));
    }
  }

  async function register(event) {
    event.preventDefault();
    const info = chosen();
    const unit = { id: unitId.value.trim(), brand: info.brand, setup: { vehicle_model_id: model.value } };
    if (info.credential_kind === "INDIVIDUAL") unit.authentication = { password: password.value };
    if (info.credential_kind === "SHARED") unit.authentication = { credentials_id: credentials.value };
    const body = { telematics_unit: unit };
    const master = Object.fromEntries([["license_plate", plate.value.trim()], ["custom_name", name.value.trim()]]
      .filter(([, v]) => v));
    if (Object.keys(master).length) body.master_data = master;
    try {
      const vehicle = await api("POST", "/vehicles", body);
      password.value = "";
      location.hash = `#/vehicles/${vehicle.id}`;
    } catch (error) {
      showIn(formMessage, problemBox(error));
    }
  }

  function choose(info, unit) {
    brand.value = info.brand;
    unitId.value = unit.id;
    brandChanged();
    form.scrollIntoView({ behavior: "smooth" });
    plate.focus();
  }

  async function loadUnits() {
    try {
      const sections = await Promise.all(brands.map(async (info) => {
        const units = (await get(`/telematics-brands/${info.brand}/available-telematics-units?limit=500`)).items;
        const where = info.transport === "TCP" ? `TCP port ${info.port}` : "cloud";
        return h("section", { dataset: { brand: info.brand } },
          h("h2", {}, `${info.brand} `, h("span", { class: "muted" }, `${where}, ${KIND_HELP[info.credential_kind] || ""}`)),
          units.length ? h("table", { class: "available" },
            h("thead", {}, h("tr", {}, ...["Unit", "First seen", "Last seen", "From", ""].map((t) => h("th", {}, t)))),
            h("tbody", {}, ...units.map((unit) => h("tr", { dataset: { unit: unit.id } },
              h("td", {}, unit.id), h("td", {}, when(unit.first_seen_at)), h("td", {}, when(unit.last_seen_at)),
              h("td", {}, unit.remote_address || "–"),
              h("td", {}, h("button", { type: "button", onclick: () => choose(info, unit) }, "Register …"))))))
            : h("p", { class: "muted" }, "No unit waiting."));
      }));
      lists.replaceChildren(...sections);
      showIn(message);
    } catch (error) {
      showIn(message, problemBox(error));
    }
  }

  (async () => {
    try {
      brands = (await get("/telematics-brands")).items;
    } catch (error) {
      showIn(message, problemBox(error));
      return;
    }
    brand.replaceChildren(...brands.map((b) => h("option", { value: b.brand }, b.brand)));
    brand.addEventListener("change", brandChanged);
    brandChanged();
    loadUnits();
  })();
  const reload = coalesced(loadUnits, 500);
  return liveEvents({ event_types: "UnitSeen,VehicleChanged" }, (type, event) => {
    if (type === "UnitSeen" || event.data.reasons?.some((r) => r === "CREATED" || r === "DELETED")) reload();
  }, () => reload());
}
