// Shared credentials of cloud brands (NIU): add either kind, rotate the secret, remove.
// Secrets are write-only: typed into a password field, sent once, never shown or read back.

import { allItems, api, ask, get, h, problemBox, showIn, when } from "./api.js";

const KINDS = {
  account: { label: "NIU account (as in NIU's app)", identity: "account", identityLabel: "Account (e-mail or phone)",
    secret: "password", secretLabel: "Password" },
  client: { label: "fleet client credentials", identity: "client_id", identityLabel: "Client id",
    secret: "client_secret", secretLabel: "Client secret" },
};

export function credentialsPage(view) {
  const body = h("tbody");
  const message = h("div");
  const formMessage = h("div");
  const brand = h("select", { id: "credentials-brand", required: true });
  const name = h("input", { id: "credentials-name", autocomplete: "off", placeholder: "default: the account or client id" });
  const kind = h("select", { id: "credentials-kind" },
    ...Object.entries(KINDS).map(([value, k]) => h("option", { value }, k.label)));
  const identity = h("input", { id: "credentials-identity", required: true, autocomplete: "off" });
  const secret = h("input", { id: "credentials-secret", type: "password", required: true, autocomplete: "new-password" });
  const identityLabel = h("span");
  const secretLabel = h("span");
  const form = h("form", { id: "add-credentials", class: "card", onsubmit: add },
    h("h2", {}, "Add credentials"),
    h("label", {}, "Brand ", brand), h("label", {}, "Kind ", kind),
    h("label", {}, identityLabel, " ", identity), h("label", {}, secretLabel, " ", secret),
    h("label", {}, "Name ", name), h("button", {}, "Add"), formMessage);
  view.append(h("h1", {}, "Credentials"), message,
    h("table", { id: "credentials" }, h("thead", {}, h("tr", {}, ...["Name", "Brand", "Kind", "Account or client id",
      "Created", "Changed", ""].map((t) => h("th", {}, t)))), body),
    form);

  function kindChanged() {
    identityLabel.textContent = KINDS[kind.value].identityLabel;
    secretLabel.textContent = KINDS[kind.value].secretLabel;
  }

  async function load() {
    try {
      const items = await allItems("/credentials");
      body.replaceChildren(...items.map((c) => h("tr", { dataset: { credentials: c.id } },
        h("td", {}, c.name), h("td", {}, c.brand), h("td", {}, c.kind), h("td", {}, c.account || c.client_id || ""),
        h("td", {}, when(c.created_at)), h("td", {}, when(c.modified_at)),
        h("td", {}, h("button", { type: "button", onclick: () => rotate(c) }, "Rotate …"), " ",
          h("button", { type: "button", class: "danger", onclick: () => remove(c) }, "Remove")))));
      if (!items.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No credentials stored.")));
      showIn(message);
    } catch (error) {
      showIn(message, problemBox(error));
    }
  }

  async function add(event) {
    event.preventDefault();
    const k = KINDS[kind.value];
    const request = { brand: brand.value, name: name.value.trim() || identity.value.trim(),
      [k.identity]: identity.value.trim(), [k.secret]: secret.value };
    try {
      await api("POST", "/credentials", request);
      form.reset();
      kindChanged();
      showIn(formMessage, h("p", { class: "ok", role: "status" }, "Stored. The secret cannot be shown again."));
      load();
    } catch (error) {
      showIn(formMessage, problemBox(error));
    } finally {
      secret.value = "";
    }
  }

  async function rotate(credentials) {
    const k = KINDS[credentials.kind];
    const answer = await ask({ title: `Rotate ${credentials.name}`, confirm: "Rotate",
      message: "Every vehicle using these credentials uses the new secret from its next request on.",
      secretLabel: `New ${k.secretLabel.toLowerCase()}` });
    if (!answer) return;
    try {
      await api("PATCH", `/credentials/${credentials.id}`, { [k.secret]: answer.secret });
      showIn(message, h("p", { class: "ok", role: "status" }, `${credentials.name}: secret rotated.`));
      load();
    } catch (error) {
      showIn(message, problemBox(error));
    }
  }

  async function remove(credentials) {
    const sure = await ask({ title: `Remove ${credentials.name}?`, confirm: "Remove", danger: true,
      message: "Credentials still used by a vehicle are kept (the gateway refuses)." });
    if (!sure) return;
    try {
      await api("DELETE", `/credentials/${credentials.id}`);
      load();
    } catch (error) {
      showIn(message, problemBox(error));
    }
  }

  (async () => {
    try {
      const shared = (await get("/telematics-brands")).items.filter((b) => b.credential_kind === "SHARED");
      brand.replaceChildren(...shared.map((b) => h("option", {}, b.brand)));
    } catch (error) {
      showIn(message, problemBox(error));
    }
  })();
  kind.addEventListener("change", kindChanged);
  kindChanged();
  load();
  return () => {};
}
