// OpenMultiStack web console: one ES module, no dependencies, no build step.
// Every string that comes from the API reaches the page through textContent / text nodes
// (see h()); no API text is ever parsed as markup.

const TOKEN_KEY = "oms-token"; // shared with the Swagger page at /v1/docs
const PAGE_SIZE = 15;
const REQUEST_FINAL = new Set(["READY", "PARTIAL", "FAILED", "DELETED", "EXPIRED"]);
const REQUEST_GONE = new Set(["FAILED", "DELETED", "EXPIRED"]); // nothing more will change
const INSTANCE_ORDER = ["PENDING", "LAUNCHING", "BUILDING", "ACTIVE", "DELETING", "DELETED", "FAILED"];
const HEALTH_WORDS = {
  closed: ["healthy", "ok"],
  half_open: ["probing", "warn"],
  open: ["failing", "bad"],
};

// --- DOM helpers ---------------------------------------------------------------------------

const $ = (selector, root = document) => root.querySelector(selector);

/** Build an element. Children that are not Nodes become text nodes, so API text is never parsed as HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function fill(el, ...children) {
  el.replaceChildren();
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function show(el, message) {
  if (message === null || message === undefined || message === "") {
    el.hidden = true;
    el.replaceChildren();
  } else {
    fill(el, message);
    el.hidden = false;
  }
}

const pad = (n) => String(n).padStart(2, "0");

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

function ago(iso) {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds)) return "—";
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

function countdown(iso) {
  const ms = Date.parse(iso) - Date.now();
  if (!Number.isFinite(ms)) return "—";
  if (ms <= 0) return "expired";
  const s = Math.floor(ms / 1000);
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return `${hours ? `${hours}:${pad(minutes)}` : minutes}:${pad(s % 60)} left`;
}

function timeEl(iso, text = ago(iso)) {
  return h("time", { datetime: iso, title: fmtTime(iso) }, text);
}

function statusBadge(status) {
  return h("span", { class: `badge status status-${String(status).toLowerCase()}` }, status);
}

function shapeText(r) {
  if (r.flavor) return `flavor ${r.flavor}`;
  const parts = [];
  if (r.min_vcpus) parts.push(`≥${r.min_vcpus} vCPU`);
  if (r.min_ram_mb) parts.push(`≥${r.min_ram_mb} MB`);
  return parts.length ? parts.join(", ") : "smallest flavor";
}

function countsText(counts) {
  const entries = Object.entries(counts || {}).filter(([, n]) => n);
  entries.sort(([a], [b]) => INSTANCE_ORDER.indexOf(a) - INSTANCE_ORDER.indexOf(b));
  return entries.map(([status, n]) => `${n} ${status}`).join(" · ");
}

function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  // Plain-HTTP origins other than localhost have no randomUUID; build a v4 UUID by hand.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

// --- API client ----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }

  /** "message (422 validation_error)" — the API's own words plus where they came from. */
  get text() {
    if (this.status === 0) return this.message;
    const code = this.body.error ? ` ${this.body.error}` : "";
    return `${this.message} (${this.status}${code})`;
  }
}

async function api(method, path, { body, headers = {} } = {}) {
  const token = localStorage.getItem(TOKEN_KEY);
  const init = { method, headers: { Accept: "application/json", ...headers }, cache: "no-store" };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    setConnection(false);
    throw new ApiError(0, { error: "network", message: "The API is unreachable (network error)." });
  }
  setConnection(true);
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: "bad_response", message: text.slice(0, 300) };
    }
  }
  if (response.status === 401) {
    signedOut("The API rejected the token (401). Sign in again.");
    throw new ApiError(401, data);
  }
  if (!response.ok) throw new ApiError(response.status, data || { error: `http_${response.status}`, message: response.statusText || `HTTP ${response.status}` });
  return data;
}

/** Does a body have the shape this call answers with? Anything else is dropped, not rendered. */
const SHAPES = {
  capacity: (d) => Array.isArray(d?.items) && d.total && d.items.every((c) => c.provider && c.health),
  providers: (d) => Array.isArray(d?.items) && !("next" in d) && d.items.every((p) => p.name && p.auth_url && p.health),
  requests: (d) => Array.isArray(d?.items) && "next" in d && d.items.every((r) => r.id && r.status),
};

function wellShaped(kind, data) {
  if (SHAPES[kind](data)) return true;
  console.warn(`ignored a ${kind} response of an unexpected shape`, data);
  return false;
}

function errorText(error) {
  return error instanceof ApiError ? error.text : String(error && error.message ? error.message : error);
}

// --- state ---------------------------------------------------------------------------------

const state = {
  signedIn: false,
  timers: [],
  providers: [],
  checks: new Map(), // provider name -> { result | error }
  chosenProviders: new Set(),
  list: { cursors: [null], page: 0, next: null, items: [], status: "" },
  detail: { id: null, data: null, error: null, timer: null, message: null, open: new Set(), lastStatus: null },
  launch: { key: null, body: null, busy: false },
};

function setConnection(ok) {
  const el = $("#conn");
  el.hidden = false;
  el.className = `conn ${ok ? "ok" : "bad"}`;
  el.textContent = ok ? "connected" : "API unreachable";
}

// --- sign in / out -------------------------------------------------------------------------

function showSignIn(message) {
  stopTimers();
  state.signedIn = false;
  $("#app-view").hidden = true;
  $("#sign-out").hidden = true;
  $("#signin-view").hidden = false;
  show($("#signin-error"), message);
  const input = $("#token-input");
  input.value = "";
  input.focus();
}

function signedOut(message) {
  localStorage.removeItem(TOKEN_KEY);
  if (state.signedIn || $("#signin-view").hidden) showSignIn(message);
  else show($("#signin-error"), message);
}

async function signIn(event) {
  event.preventDefault();
  const token = $("#token-input").value.trim();
  if (!token) {
    show($("#signin-error"), "Enter the API token.");
    return;
  }
  localStorage.setItem(TOKEN_KEY, token);
  try {
    await api("GET", "/v1/capacity"); // proves the token; a 401 lands back here via signedOut()
  } catch (error) {
    if (error.status !== 401) show($("#signin-error"), `Could not reach the API: ${errorText(error)}`);
    return;
  }
  enterApp();
}

function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  state.detail.id = null;
  state.checks.clear();
  state.list = { cursors: [null], page: 0, next: null, items: [], status: "" };
  history.replaceState(null, "", location.pathname);
  showSignIn("Signed out.");
}

function enterApp() {
  state.signedIn = true;
  $("#signin-view").hidden = true;
  $("#app-view").hidden = false;
  $("#sign-out").hidden = false;
  show($("#signin-error"), null);
  loadCapacity();
  loadProviders();
  loadRequests();
  route();
  every(5000, loadCapacity);
  every(5000, loadRequests);
  every(30000, loadProviders);
  every(1000, tickClocks);
}

function every(ms, fn) {
  state.timers.push(setInterval(() => { if (!document.hidden && state.signedIn) fn(); }, ms));
}

function stopTimers() {
  state.timers.forEach(clearInterval);
  state.timers = [];
  clearTimeout(state.detail.timer);
}

function tickClocks() {
  for (const el of document.querySelectorAll("time[data-expires]")) {
    const text = countdown(el.dataset.expires);
    el.textContent = text;
    const ms = Date.parse(el.dataset.expires) - Date.now();
    el.classList.toggle("soon", ms > 0 && ms < 120000);
    el.classList.toggle("over", ms <= 0);
  }
  for (const el of document.querySelectorAll("time[data-ago]")) el.textContent = ago(el.dataset.ago);
}

// --- capacity ------------------------------------------------------------------------------

function usageBar(c) {
  const max = Math.max(c.max, c.used + c.reserved, 1);
  const bar = h("div", { class: "bar", role: "img", "aria-label": `${c.used} used, ${c.reserved} reserved, ${c.free} free of ${c.max}` });
  const used = h("span", { class: "used" });
  const reserved = h("span", { class: "reserved" });
  used.style.width = `${(100 * c.used) / max}%`; // CSSOM, allowed by the page's CSP
  reserved.style.width = `${(100 * c.reserved) / max}%`;
  bar.append(used, reserved);
  return bar;
}

function healthCell(health) {
  const [word, tone] = HEALTH_WORDS[health.state] || [health.state, "warn"];
  return h("td", { class: "health" },
    h("span", { class: `badge ${tone}`, title: `circuit ${health.state}` }, word),
    h("span", { class: "muted small" }, ` ${health.state.replace("_", "-")}`),
    health.failures ? h("span", { class: "muted small" }, ` · ${health.failures} failure${health.failures === 1 ? "" : "s"}`) : null,
    health.last_error ? h("div", { class: "last-error small" }, health.last_error) : null);
}

async function loadCapacity() {
  let data;
  try {
    data = await api("GET", "/v1/capacity");
  } catch (error) {
    if (error.status !== 401) show($("#capacity-error"), `Capacity: ${errorText(error)}`);
    return;
  }
  if (!wellShaped("capacity", data)) return;
  show($("#capacity-error"), null);
  const items = data.items || [];
  const healthy = items.filter((c) => c.enabled && c.health.state === "closed").length;
  const t = data.total || {};
  fill($("#capacity-totals"),
    total("Free", t.free, `of ${t.max ?? 0} instances`),
    total("Active", t.used, "instances running"),
    total("Reserved", t.reserved, "launching or deleting"),
    total("Providers", `${healthy}/${items.length}`, "enabled and healthy"));
  fill($("#capacity-table tbody"), items.length ? items.map((c) => h("tr", { class: c.enabled ? "" : "disabled", dataset: { provider: c.provider } },
    h("th", { scope: "row" }, c.provider, c.enabled ? null : h("span", { class: "badge muted-badge" }, "disabled")),
    healthCell(c.health),
    h("td", { class: "bar-col" }, usageBar(c)),
    h("td", { class: "num" }, c.used),
    h("td", { class: "num" }, c.reserved),
    h("td", { class: "num" }, c.free),
    h("td", { class: "num" }, c.max))) : h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No providers registered yet.")));
  fill($("#capacity-table tfoot"), items.length ? h("tr", {},
    h("th", { scope: "row" }, "Total"), h("td"), h("td", { class: "bar-col" }, usageBar({ ...t, max: t.max || 0 })),
    h("td", { class: "num" }, t.used), h("td", { class: "num" }, t.reserved),
    h("td", { class: "num" }, t.free), h("td", { class: "num" }, t.max)) : null);
  $("#capacity-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function total(label, value, hint) {
  return h("div", { class: "total" }, h("div", { class: "total-label" }, label),
    h("div", { class: "total-value" }, value ?? 0), h("div", { class: "muted small" }, hint));
}

// --- providers -----------------------------------------------------------------------------

async function loadProviders() {
  try {
    const data = await api("GET", "/v1/providers");
    if (!wellShaped("providers", data)) return;
    state.providers = data.items;
    show($("#providers-error"), null);
  } catch (error) {
    if (error.status !== 401) show($("#providers-error"), `Providers: ${errorText(error)}`);
    return;
  }
  renderProviders();
  renderFormChoices();
}

function renderProviders() {
  const rows = [];
  for (const p of state.providers) {
    const aliases = Object.entries(p.image_aliases || {});
    const limit = p.max_instances ?? p.nova_max_instances;
    rows.push(h("tr", { dataset: { provider: p.name } },
      h("th", { scope: "row" }, h("div", {}, p.name), h("div", { class: "muted small url" }, p.auth_url)),
      h("td", {}, h("label", { class: "switch" },
        h("input", { type: "checkbox", role: "switch", checked: p.enabled, "aria-label": `${p.name} enabled`, onchange: (e) => toggleProvider(p, e.target) }),
        h("span", { class: "small" }, p.enabled ? "on" : "off"))),
      h("td", {}, p.region_name || "—"),
      h("td", { class: "num", title: p.max_instances != null ? "cap set here" : "the provider's own limit" }, limit ?? "—"),
      h("td", { title: (p.flavors || []).map((f) => `${f.name}: ${f.vcpus} vCPU, ${f.ram_mb} MB`).join("\n") }, (p.flavors || []).length),
      h("td", { class: "small" }, aliases.length ? aliases.map(([a, n]) => h("div", {}, h("code", {}, a), " → ", n)) : "—"),
      h("td", {}, p.checked_at ? timeEl(p.checked_at) : "never",
        p.has_credentials ? null : h("div", { class: "badge warn" }, "no credentials")),
      h("td", { class: "actions-cell" }, h("button", { type: "button", class: "small-btn", onclick: (e) => checkProvider(p.name, e.target) }, "Check"))));
    const check = state.checks.get(p.name);
    if (check) rows.push(h("tr", { class: "check-row", dataset: { checkFor: p.name } }, h("td", { colspan: 8 }, checkReport(p.name, check))));
  }
  fill($("#providers-table tbody"), rows.length ? rows : h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No providers registered yet.")));
}

function checkReport(name, check) {
  if (check.busy) return h("p", { class: "muted" }, `Checking ${name}…`);
  if (check.error) return h("div", { class: "alert error" }, `Check of ${name} failed: ${check.error}`);
  const r = check.result;
  const summary = [
    r.max_instances != null ? `limit ${r.max_instances} instances` : "limit unknown",
    r.instances_used != null ? `${r.instances_used} in use` : null,
    `${(r.flavors || []).length} flavors`,
    `${(r.images || []).length} images`,
    (r.networks || []).length ? `networks: ${r.networks.join(", ")}` : "no networks",
  ].filter(Boolean).join(" · ");
  const problems = r.problems || [];
  if (r.ok && !problems.length) {
    return h("div", { class: "alert ok" }, h("strong", {}, `${name} works. `), `Signed in and read the catalogue: ${summary}.`);
  }
  return h("div", { class: "alert error" },
    h("strong", {}, `${name} has ${problems.length || "some"} problem${problems.length === 1 ? "" : "s"}:`),
    h("ul", {}, (problems.length ? problems : ["the check did not succeed"]).map((problem) => h("li", {}, problem))),
    h("div", { class: "small" }, `What was found: ${summary}.`));
}

async function checkProvider(name, button) {
  button.disabled = true;
  state.checks.set(name, { busy: true });
  renderProviders();
  try {
    state.checks.set(name, { result: await api("POST", `/v1/providers/${encodeURIComponent(name)}/check`) });
  } catch (error) {
    if (error.status === 401) return;
    state.checks.set(name, { error: errorText(error) });
  }
  await loadProviders();
  loadCapacity();
}

async function toggleProvider(provider, input) {
  const enabled = input.checked;
  input.disabled = true;
  try {
    await api("PATCH", `/v1/providers/${encodeURIComponent(provider.name)}`, { body: { enabled } });
    show($("#providers-error"), null);
  } catch (error) {
    input.checked = !enabled;
    if (error.status !== 401) show($("#providers-error"), `Could not ${enabled ? "enable" : "disable"} ${provider.name}: ${errorText(error)}`);
  }
  input.disabled = false;
  loadProviders();
  loadCapacity();
}

function renderFormChoices() {
  const images = new Set();
  const flavors = new Set();
  for (const p of state.providers) {
    Object.keys(p.image_aliases || {}).forEach((a) => images.add(a));
    (p.images || []).forEach((i) => images.add(i));
    Object.keys(p.flavor_aliases || {}).forEach((a) => flavors.add(a));
    (p.flavors || []).forEach((f) => flavors.add(f.name));
  }
  fill($("#image-list"), [...images].sort().map((v) => h("option", { value: v })));
  fill($("#flavor-list"), [...flavors].sort().map((v) => h("option", { value: v })));
  fill($("#provider-choices"), state.providers.map((p) => h("label", { class: "inline chip-choice" },
    h("input", { type: "checkbox", value: p.name, checked: state.chosenProviders.has(p.name),
      onchange: (e) => { e.target.checked ? state.chosenProviders.add(p.name) : state.chosenProviders.delete(p.name); } }),
    ` ${p.name}`)));
}

// --- new request form ----------------------------------------------------------------------

function readForm() {
  const f = $("#request-form").elements;
  const number = (name) => {
    const raw = f[name].value.trim();
    if (raw === "") return undefined;
    const n = Number(raw);
    return Number.isFinite(n) ? n : raw; // let the API name anything odd
  };
  const body = {
    count: number("count"),
    image: f.image.value.trim() || undefined,
    lifetime_minutes: number("lifetime_minutes"),
    placement: f.placement.value,
  };
  if (f.shape.value === "flavor") body.flavor = f.flavor.value.trim() || undefined;
  else {
    body.min_vcpus = number("min_vcpus");
    body.min_ram_mb = number("min_ram_mb");
  }
  const key = f.public_key.value.trim();
  if (key) body.public_key = key;
  if (f.user_data.value.trim()) body.user_data = f.user_data.value;
  const chosen = state.providers.map((p) => p.name).filter((n) => state.chosenProviders.has(n));
  if (chosen.length) body.providers = chosen;
  return JSON.parse(JSON.stringify(body)); // drops the undefined fields
}

function clearFormErrors() {
  show($("#form-error"), null);
  for (const el of $("#request-form").querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of $("#request-form").querySelectorAll(".field-error")) el.remove();
}

function showFormError(error) {
  clearFormErrors();
  const form = $("#request-form");
  const details = Array.isArray(error.body?.details) ? error.body.details : [];
  const title = error.status === 0 ? "Could not reach the API." : `The API refused the request (${error.status}${error.body?.error ? ` ${error.body.error}` : ""}):`;
  const box = $("#form-error");
  fill(box, h("strong", {}, title), " ",
    details.length > 1 ? h("ul", {}, details.map((d) => h("li", {}, `${d.field}: ${d.problem}`))) : h("span", { class: "error-message" }, error.message));
  box.hidden = false;
  for (const d of details) {
    const name = String(d.field || "").split(".")[0];
    const input = name && form.elements[name];
    if (input && input.nodeType === 1 && input.matches("input, select, textarea")) {
      input.setAttribute("aria-invalid", "true");
      input.after(h("span", { class: "field-error" }, d.problem));
    }
  }
}

function setFormBusy(busy) {
  state.launch.busy = busy;
  $("#preview-btn").disabled = busy;
  $("#launch-btn").disabled = busy;
}

async function preview() {
  if (state.launch.busy) return;
  const body = { ...readForm(), dry_run: true };
  setFormBusy(true);
  clearFormErrors();
  try {
    renderPlan(await api("POST", "/v1/requests", { body }));
  } catch (error) {
    show($("#plan"), null);
    if (error.status !== 401) showFormError(error);
  } finally {
    setFormBusy(false);
  }
}

function renderPlan(plan) {
  const perProvider = Object.entries(plan.per_provider || {});
  const skipped = Object.entries(plan.skipped || {});
  fill($("#plan"),
    h("div", { class: "plan-head" }, h("strong", {}, `Preview: ${plan.placed} of ${plan.count} would be placed`),
      plan.unplaced ? h("span", { class: "badge bad" }, `${plan.unplaced} unplaced`) : h("span", { class: "badge ok" }, "all placed")),
    perProvider.length ? h("ul", { class: "chips" }, perProvider.map(([name, n]) => h("li", { class: "chip" }, h("strong", {}, n), ` on ${name}`))) : null,
    plan.unplaced ? h("p", { class: "small" }, `${plan.unplaced} instance${plan.unplaced === 1 ? "" : "s"} would not fit anywhere right now: not enough free capacity on a matching, healthy provider. Launching still queues them; they wait for capacity for a while.`) : null,
    skipped.length ? h("div", { class: "small" }, h("div", { class: "muted" }, "Providers left out:"),
      h("ul", { class: "skipped" }, skipped.map(([name, why]) => h("li", {}, h("strong", {}, name), ": ", why)))) : null,
    h("p", { class: "muted small" }, "Nothing was created."));
  $("#plan").hidden = false;
}

async function launch(event) {
  event.preventDefault();
  if (state.launch.busy) return;
  const body = readForm();
  const fingerprint = JSON.stringify(body);
  // Same body after a network failure → same Idempotency-Key, so a retry cannot double the order.
  if (!state.launch.key || state.launch.body !== fingerprint) state.launch = { ...state.launch, key: uuid(), body: fingerprint };
  setFormBusy(true);
  clearFormErrors();
  try {
    const created = await api("POST", "/v1/requests", { body, headers: { "Idempotency-Key": state.launch.key } });
    if (!created?.id) throw new ApiError(502, { error: "bad_response", message: "the API accepted the request but sent no id; see the Requests list" });
    state.launch.key = null;
    show($("#plan"), null);
    state.detail.message = { tone: "ok", text: `Request ${created.id} accepted: ${created.count} instance${created.count === 1 ? "" : "s"} queued.` };
    state.list.page = 0;
    state.list.cursors = [null];
    location.hash = `#/requests/${encodeURIComponent(created.id)}`;
    loadRequests();
    loadCapacity();
  } catch (error) {
    if (error.status && error.status < 500) state.launch.key = null; // refused: a new attempt is a new order
    if (error.status !== 401) showFormError(error);
  } finally {
    setFormBusy(false);
  }
}

function syncShape() {
  const mode = $("#request-form").elements.shape.value;
  for (const el of document.querySelectorAll("[data-shape]")) el.hidden = el.dataset.shape !== mode;
}

// --- requests list -------------------------------------------------------------------------

async function loadRequests() {
  const list = state.list;
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const cursor = list.cursors[list.page];
  if (cursor) params.set("cursor", cursor);
  if (list.status) params.set("status", list.status);
  let data;
  try {
    data = await api("GET", `/v1/requests?${params}`);
  } catch (error) {
    if (error.status !== 401) show($("#requests-error"), `Requests: ${errorText(error)}`);
    return;
  }
  if (!wellShaped("requests", data)) return;
  show($("#requests-error"), null);
  list.items = data.items;
  list.next = data.next || null;
  renderRequests();
}

function renderRequests() {
  const list = state.list;
  const selected = state.detail.id;
  fill($("#requests-table tbody"), list.items.length ? list.items.map((r) => {
    const href = `#/requests/${encodeURIComponent(r.id)}`;
    return h("tr", { class: r.id === selected ? "selected" : "", dataset: { request: r.id }, onclick: (e) => { if (e.target.tagName !== "A") location.hash = href; } },
      h("td", {}, h("a", { href, class: "mono" }, r.id)),
      h("td", {}, statusBadge(r.status)),
      h("td", {}, h("div", {}, `${r.count} × ${r.image}`), h("div", { class: "muted small" }, countsText(r.counts) || "—")),
      h("td", { class: "small" }, shapeText(r), ` · ${r.placement}`),
      h("td", {}, `${r.lifetime_minutes} min`),
      h("td", {}, h("time", { datetime: r.created_at, title: fmtTime(r.created_at), dataset: { ago: r.created_at } }, ago(r.created_at))));
  }) : h("tr", {}, h("td", { colspan: 6, class: "empty" }, list.page ? "No more requests." : "No requests yet. Ask for some instances with the form.")));
  $("#requests-newer").disabled = list.page === 0;
  $("#requests-older").disabled = !list.next;
  $("#requests-page").textContent = `page ${list.page + 1}`;
}

function pageOlder() {
  const list = state.list;
  if (!list.next) return;
  list.cursors = list.cursors.slice(0, list.page + 1).concat(list.next);
  list.page += 1;
  loadRequests();
}

function pageNewer() {
  if (state.list.page === 0) return;
  state.list.page -= 1;
  loadRequests();
}

// --- request detail ------------------------------------------------------------------------

function route() {
  const match = location.hash.match(/^#\/requests\/([^/?#]+)$/);
  const id = match ? decodeURIComponent(match[1]) : null;
  const detail = state.detail;
  if (id !== detail.id) {
    clearTimeout(detail.timer);
    Object.assign(detail, { id, data: null, error: null, lastStatus: null });
    detail.open.clear();
    if (!id) detail.message = null;
  }
  const section = $("#request-detail");
  if (!id || !state.signedIn) {
    section.hidden = true;
    section.replaceChildren();
    renderRequests();
    return;
  }
  section.hidden = false;
  if (!detail.data) fill(section, h("p", { class: "muted" }, `Loading ${id}…`));
  renderRequests();
  loadDetail();
  section.scrollIntoView({ block: "nearest" });
}

async function loadDetail() {
  const detail = state.detail;
  const id = detail.id;
  if (!id || !state.signedIn) return;
  clearTimeout(detail.timer);
  try {
    const data = await api("GET", `/v1/requests/${encodeURIComponent(id)}`);
    if (detail.id !== id) return;
    if (data?.id === id && data.status) {
      detail.data = data;
      detail.error = null;
    } else console.warn(`ignored a response that is not request ${id}`, data);
  } catch (error) {
    if (detail.id !== id || error.status === 401) return;
    detail.error = error;
  }
  renderDetail();
  const status = detail.data?.status;
  if (status && status !== detail.lastStatus) {
    if (detail.lastStatus) { loadRequests(); loadCapacity(); }
    detail.lastStatus = status;
  }
  let delay = 2000; // not final yet: follow it closely
  if (detail.error?.status === 404) delay = null;
  else if (status && REQUEST_GONE.has(status)) delay = null;
  else if (status && REQUEST_FINAL.has(status)) delay = 15000; // READY/PARTIAL: watch for expiry
  if (delay) detail.timer = setTimeout(loadDetail, delay);
}

function closeDetail() {
  history.pushState(null, "", location.pathname + location.search);
  route();
}

function renderDetail() {
  const section = $("#request-detail");
  const { data: r, error, message } = state.detail;
  if (!r) {
    fill(section, h("div", { class: "card-head" }, h("h2", {}, "Request ", h("code", {}, state.detail.id)),
      h("button", { type: "button", class: "ghost", onclick: closeDetail, "aria-label": "Close" }, "✕")),
    h("div", { class: "alert error", role: "alert" }, error ? errorText(error) : "Loading…"));
    return;
  }
  const instances = r.instances || [];
  const active = instances.filter((i) => i.status === "ACTIVE").length;
  const ips = instances.filter((i) => i.ip && i.status === "ACTIVE").map((i) => i.ip);
  const live = !["DELETING", "DELETED", "EXPIRED"].includes(r.status);
  const progress = h("div", { class: "bar progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": r.count, "aria-valuenow": active, "aria-label": `${active} of ${r.count} active` }, h("span", { class: "used" }));
  progress.firstChild.style.width = `${(100 * active) / Math.max(r.count, 1)}%`;
  fill(section,
    h("div", { class: "card-head" },
      h("h2", {}, "Request ", h("code", { class: "request-id" }, r.id)),
      h("span", { class: "detail-status" }, statusBadge(r.status)),
      REQUEST_FINAL.has(r.status) ? null : h("span", { class: "spinner", title: "refreshing every 2 s", "aria-hidden": "true" }),
      h("button", { type: "button", class: "ghost close", onclick: closeDetail, "aria-label": "Close request detail" }, "✕")),
    h("dl", { class: "facts" },
      fact("Instances", `${active} of ${r.count} active`),
      fact("Image", r.image),
      fact("Size", shapeText(r)),
      fact("Lifetime", `${r.lifetime_minutes} min`),
      fact("Placement", r.placement),
      fact("Providers", r.providers?.length ? r.providers.join(", ") : "any"),
      fact("SSH key", r.has_public_key ? "yes" : "none"),
      fact("Created", timeEl(r.created_at, fmtTime(r.created_at)))),
    progress,
    countsText(r.counts) ? h("p", { class: "counts small" }, countsText(r.counts)) : null,
    r.reason ? h("div", { class: "alert warn" }, longText(`reason:${r.id}`, r.reason, 200)) : null,
    error ? h("p", { class: "alert error" }, `Refresh failed: ${errorText(error)}`) : null,
    h("div", { class: "actions" },
      h("button", { type: "button", id: "copy-ips", disabled: !ips.length, onclick: () => copyIps(ips) }, `Copy ${ips.length} IP${ips.length === 1 ? "" : "s"}`),
      h("button", { type: "button", id: "extend-btn", disabled: !live || !active, onclick: extend, title: "Push every active instance's expiry 15 minutes later" }, "Extend 15 min"),
      h("button", { type: "button", id: "delete-btn", class: "danger", disabled: !live, onclick: destroy }, r.status === "DELETING" ? "Deleting…" : "Delete")),
    h("p", { id: "detail-message", class: message ? `alert ${message.tone}` : "", role: "status", hidden: !message }, message ? message.text : ""),
    h("div", { class: "table-wrap" }, h("table", { id: "instances-table", class: "grid" },
      h("thead", {}, h("tr", {}, ["Instance", "Provider", "Status", "IP", "Flavor / image", "Expires", "Attempts"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, instances.length ? instances.flatMap(instanceRows) : h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No instances yet."))))));
}

function fact(label, value) {
  return h("div", {}, h("dt", {}, label), h("dd", {}, value));
}

/** Long API text (OpenStack errors can run to a paragraph) folds away behind its first words. */
function longText(key, text, limit = 120) {
  if (!text) return null;
  if (text.length <= limit) return h("div", { class: "long-text" }, text);
  const open = state.detail.open;
  return h("details", { class: "long-text", open: open.has(key), ontoggle: (e) => { e.target.open ? open.add(key) : open.delete(key); } },
    h("summary", {}, h("span", { class: "clip" }, `${text.slice(0, limit)}…`), h("span", { class: "less" }, "hide full text")),
    h("div", { class: "full" }, text));
}

function instanceRows(i) {
  const open = state.detail.open;
  const key = `attempts:${i.id}`;
  const attempts = i.attempts || [];
  const expanded = attempts.length > 0 && open.has(key);
  const expires = i.expires_at && i.status === "ACTIVE"
    ? h("time", { datetime: i.expires_at, title: `expires ${fmtTime(i.expires_at)}`, class: "countdown", dataset: { expires: i.expires_at } }, countdown(i.expires_at))
    : h("span", { class: "muted", title: i.expires_at ? fmtTime(i.expires_at) : null }, "—");
  const toggle = () => {
    expanded ? open.delete(key) : open.add(key);
    renderDetail();
  };
  const row = h("tr", { dataset: { instance: i.id } },
    h("td", { class: "mono small nowrap" }, i.id),
    h("td", {}, i.provider || "—"),
    h("td", { class: "status-cell" }, statusBadge(i.status), h("div", { class: "small muted" }, longText(`reason:${i.id}`, i.reason))),
    h("td", { class: "mono ip" }, i.ip || "—"),
    h("td", { class: "small" }, i.flavor || "—", h("div", { class: "muted" }, i.image || "")),
    h("td", {}, expires),
    h("td", { class: "small nowrap" }, attempts.length
      ? h("button", { type: "button", class: "link-btn", "aria-expanded": String(expanded), onclick: toggle },
        `${expanded ? "▾" : "▸"} ${attempts.length} failed attempt${attempts.length === 1 ? "" : "s"}`)
      : h("span", { class: "muted" }, "first try")));
  if (!expanded) return [row];
  return [row, h("tr", { class: "attempts-row", dataset: { attemptsOf: i.id } }, h("td", { colspan: 7 },
    h("ol", { class: "attempts" }, attempts.map((a, n) => h("li", {},
      h("div", { class: "attempt-head" }, h("strong", {}, a.provider), " ", h("span", { class: "badge warn" }, a.error_class),
        h("span", { class: "muted" }, " at ", timeEl(a.at, new Date(a.at).toLocaleTimeString()))),
      h("div", { class: "small" }, longText(`attempt:${i.id}:${n}`, a.message, 160)))))))];
}

async function copyIps(ips) {
  try {
    await navigator.clipboard.writeText(ips.join("\n"));
    state.detail.message = { tone: "ok", text: `Copied ${ips.length} IP address${ips.length === 1 ? "" : "es"} to the clipboard.` };
  } catch {
    state.detail.message = { tone: "info", text: `IP addresses: ${ips.join(" ")}` };
  }
  renderDetail();
}

async function extend() {
  const id = state.detail.id;
  const button = $("#extend-btn");
  if (button) button.disabled = true;
  try {
    const data = await api("POST", `/v1/requests/${encodeURIComponent(id)}/extend`, { body: { minutes: 15 } });
    if (data?.id === id && state.detail.id === id) state.detail.data = data;
    const latest = (data?.instances || []).map((i) => i.expires_at).filter(Boolean).sort().pop();
    state.detail.message = { tone: "ok", text: `Extended by up to 15 minutes (an instance lives at most 60 minutes)${latest ? `; last expiry now ${fmtTime(latest)}` : ""}.` };
  } catch (error) {
    if (error.status === 401) return;
    state.detail.message = { tone: "error", text: `Extend failed: ${errorText(error)}` };
  }
  if (state.detail.id === id) loadDetail();
}

async function destroy() {
  const r = state.detail.data;
  if (!r) return;
  if (!confirm(`Destroy all instances of ${r.id} now? This cannot be undone.`)) return;
  const button = $("#delete-btn");
  if (button) button.disabled = true;
  try {
    const data = await api("DELETE", `/v1/requests/${encodeURIComponent(r.id)}`);
    if (state.detail.id === r.id && data?.id === r.id) {
      state.detail.data = { ...data, instances: data.instances ?? r.instances };
      state.detail.message = { tone: "info", text: `Deleting ${r.id}: every instance is being destroyed.` };
    }
  } catch (error) {
    if (error.status === 401) return;
    state.detail.message = { tone: "error", text: `Delete failed: ${errorText(error)}` };
  }
  renderDetail();
  loadDetail();
  loadRequests();
  loadCapacity();
}

// --- wiring --------------------------------------------------------------------------------

function init() {
  $("#signin-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  const form = $("#request-form");
  form.addEventListener("submit", launch);
  $("#preview-btn").addEventListener("click", preview);
  for (const radio of form.querySelectorAll("input[name=shape]")) radio.addEventListener("change", syncShape);
  $("#requests-older").addEventListener("click", pageOlder);
  $("#requests-newer").addEventListener("click", pageNewer);
  $("#requests-status").addEventListener("change", (e) => {
    state.list = { cursors: [null], page: 0, next: null, items: [], status: e.target.value };
    loadRequests();
  });
  window.addEventListener("hashchange", route);
  window.addEventListener("popstate", route);
  window.addEventListener("storage", (e) => { // signed out (or in) in another tab
    if (e.key === TOKEN_KEY && !e.newValue && state.signedIn) showSignIn("Signed out in another tab.");
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden && state.signedIn) { loadCapacity(); loadRequests(); loadDetail(); } });
  syncShape();
  if (localStorage.getItem(TOKEN_KEY)) enterApp();
  else showSignIn();
}

init();
