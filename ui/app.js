// The System page. Everything shown comes from ragwatch's JSON API and reaches the page as
// text nodes (el() and svg() below): no data is ever parsed as HTML.
"use strict";

const REFRESH_MS = 5000;
const HISTORY_MS = 30000;
const INTERVALS_MS = 15000;
const REQUEST_TIMEOUT_MS = 8000;
const WINDOW_S = 30 * 60;
const SHOWN_EXECUTORS = 12;
// Beyond this many executors the compact view, one row each, is the default.
const COMPACT_BEYOND = 6;
// No heartbeat for this long (two of RAGFlow's periods): the span is drawn as missing.
const GAP_S = 60;
const STRIP_SPAN_S = 24 * 3600;
// 5-minute slots (288) where the page is wide enough to draw them, 15-minute ones (96) else.
const STRIP_WIDE_PX = 1000;
const STRIP_STEPS_S = { wide: 300, narrow: 900 };
const STRIP_TICK_S = 6 * 3600;
const TOKEN_KEY = "ragwatch.token";
const ZONE_KEY = "ragwatch.zone";
// Cards and the header's list, the worst first; within a status, the configuration's order.
const SEVERITY = { red: 0, yellow: 1, unknown: 2, green: 3 };
// The tab's icon per overall status: a shape each, so it is not told by colour alone.
const FAVICON_SHAPES = {
  green: '<circle cx="8" cy="8" r="7" fill="#1a7f37"/><path d="M4.5 8.5l2.5 2.5 4.5-5" fill="none" stroke="#fff" stroke-width="2"/>',
  yellow: '<path d="M8 1l7.5 13.5h-15z" fill="#d29922"/><path d="M8 6v4M8 11.5v1.5" stroke="#000" stroke-width="1.8"/>',
  red: '<rect x="1" y="1" width="14" height="14" rx="2" fill="#cf222e"/><path d="M5 5l6 6M11 5l-6 6" stroke="#fff" stroke-width="2"/>',
  unknown: '<circle cx="8" cy="8" r="6" fill="none" stroke="#5b6475" stroke-width="2" stroke-dasharray="3 2"/>',
};

const page = {
  token: sessionStorage.getItem(TOKEN_KEY),
  // Every time on the page is in one zone, the viewer's choice: the browser's, or UTC.
  zone: localStorage.getItem(ZONE_KEY) === "utc" ? "utc" : "local",
  components: [],
  history: new Map(), // key -> {buckets, step_s, error}
  historyAt: 0,
  executors: null, // /api/v1/executors, or null when not watched
  intervals: new Map(), // name -> {intervals, at}
  incidents: null,
  incidentsError: null,
  cluster: null, // /api/v1/cluster: {enabled: false} for a single ragwatch
  open: new Map(), // component key -> this ragwatch's open incident on it
  maintenance: { windows: [], silences: [] }, // /api/v1/maintenance
  lastOk: 0,
  failure: null,
  mode: "interval",
  view: null, // "compact" or "cards" once the viewer chooses; by count until then
  filter: "",
  showAll: false,
  slot: null, // {key, start}: the strip slot whose details are open
  timer: 0,
};

// ---- DOM helpers ---------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  append(node, children);
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  setAttributes(node, attrs);
  append(node, children);
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
}

// ---- formatting ----------------------------------------------------------------------------

/// The chosen zone, for Intl's formatting; the hour cycle is the browser's locale's.
function zoneOption() {
  return page.zone === "utc" ? { timeZone: "UTC" } : {};
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { ...zoneOption(), hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function dateTime(ms) {
  return new Date(ms).toLocaleString([], { ...zoneOption(), month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function day(ms) {
  return new Date(ms).toLocaleDateString([], zoneOption());
}

/// The browser's zone and its offset now: "Europe/Berlin, UTC+01:00".
function localZoneName() {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes < 0 ? "−" : "+";
  const offset = `${String(Math.floor(Math.abs(minutes) / 60)).padStart(2, "0")}:${String(Math.abs(minutes) % 60).padStart(2, "0")}`;
  return `${Intl.DateTimeFormat().resolvedOptions().timeZone}, UTC${sign}${offset}`;
}

/// A heartbeat's own time (RAGFlow writes the executor's zone and offset) followed by the
/// same instant in the page's zone; any other value as it is.
function zonedValue(value) {
  const ms = typeof value === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:[\d.]+)?(Z|[+-]\d\d:?\d\d)$/.test(value) ? Date.parse(value) : NaN;
  return Number.isFinite(ms) ? `${value} (${dateTime(ms)} ${page.zone === "utc" ? "UTC" : "local"})` : scalar(value);
}

/// When something began: the time (with the date unless today) and how long ago.
function sinceText(ms) {
  const today = day(ms) === day(Date.now());
  return `since ${today ? clock(ms) : dateTime(ms)} (${duration(Date.now() - ms)})`;
}

function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

// RAGFlow's to_page for "to the end of the file" (its task splitter's default).
const WHOLE_FILE_PAGE = 100000000;

/// RAGFlow's page range of a task (from 0, the end excluded) as people count pages.
function pageRange(from, to) {
  if (from == null) return "–";
  if (to >= WHOLE_FILE_PAGE) return from === 0 ? "whole file" : `${from + 1} to the end`;
  return to - from === 1 ? `${to}` : `${from + 1}–${to}`;
}

function bytes(n) {
  if (typeof n !== "number") return n;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function millis(ms) {
  if (typeof ms !== "number") return "–";
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

function percent(ratio) {
  return `${(ratio * 100).toFixed(ratio === 1 ? 0 : 2)} %`;
}

function scalar(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// ---- API -----------------------------------------------------------------------------------

class AuthError extends Error {
  constructor(message, loopbackOnly) {
    super(message);
    // No tokens are configured and this browser is not on ragwatch's host: no token helps.
    this.loopbackOnly = loopbackOnly;
  }
}

/// `path` is relative to the page (no leading slash), so that behind a proxy's path prefix
/// the requests go to the same prefix.
async function api(path) {
  const headers = { Accept: "application/json" };
  if (page.token) headers.Authorization = `Bearer ${page.token}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, { headers, cache: "no-store", signal: abort.signal });
  } catch (error) {
    throw new Error(abort.signal.aborted ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : "cannot connect");
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    // Not JSON: a proxy's error page, say. The status says enough.
  }
  if (response.status === 401) {
    const loopbackOnly = response.headers.get("X-Ragwatch-Access") === "loopback-only";
    throw new AuthError((body && body.message) || "token required", loopbackOnly);
  }
  if (!response.ok) {
    const error = new Error((body && body.message) || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

// ---- refresh cycle -------------------------------------------------------------------------

async function refresh() {
  clearTimeout(page.timer);
  try {
    const [components, executors, cluster] = await Promise.all([
      api("api/v1/components"),
      api("api/v1/executors").catch((error) => {
        if (error.status === 404) return null; // task executors are not watched
        throw error;
      }),
      api("api/v1/cluster"),
    ]);
    page.components = components.components;
    page.executors = executors;
    page.cluster = cluster;
    await Promise.all([refreshIncidents(), refreshHistory(), refreshIntervals(), refreshMaintenance()]);
    page.lastOk = Date.now();
    page.failure = null;
    hideTokenPrompt();
    render();
  } catch (error) {
    if (error instanceof AuthError) {
      showTokenPrompt(refusalText(error));
      return; // resumes when a token is given
    }
    page.failure = error.message;
    renderBanner();
  }
  page.timer = setTimeout(refresh, REFRESH_MS);
}

async function refreshIncidents() {
  try {
    const [recent, open] = await Promise.all([api("api/v1/incidents?limit=20"), api("api/v1/incidents/open")]);
    page.incidents = recent.incidents;
    page.open = new Map(open.incidents.map((i) => [i.component, i]));
    page.incidentsError = null;
  } catch (error) {
    if (!error.status) throw error;
    page.incidents = null;
    page.open = new Map();
    page.incidentsError = error.message; // history disabled or failing: the rest still shows
  }
}

async function refreshMaintenance() {
  try {
    page.maintenance = await api("api/v1/maintenance");
  } catch (error) {
    if (!error.status) throw error;
    page.maintenance = { windows: [], silences: [] }; // an older ragwatch: nothing to show
  }
}

function stripStep() {
  return window.innerWidth >= STRIP_WIDE_PX ? STRIP_STEPS_S.wide : STRIP_STEPS_S.narrow;
}

/// Each component's 24 h of buckets: the whole day once, then only the last two buckets
/// (the one being written and the one before, which may still get late roll-ups), merged by
/// their start and trimmed to the day.
async function refreshHistory() {
  // Until the first roll-ups are written (a new ragwatch), ask on every refresh.
  const empty = [...page.history.values()].some((h) => !h.error && !h.buckets.length);
  if (!empty && Date.now() - page.historyAt < HISTORY_MS) return;
  const step = stripStep();
  // Aligned to the roll-ups, so that each slot is exactly one bucket; the last one is now.
  const current = Math.floor(Date.now() / 1000 / step) * step;
  const since = current - STRIP_SPAN_S + step;
  const keys = page.components.map((c) => c.key);
  const results = await Promise.all(
    keys.map((key) => {
      const known = page.history.get(key);
      const from = known && !known.error && known.step_s === step ? Math.max(since, current - step) : since;
      return api(`api/v1/components/${encodeURIComponent(key)}/history?since=${from}&step=${step}`)
        .then((answer) => {
          const kept = from === since ? [] : known.buckets.filter((b) => b.start_ms >= since * 1000 && b.start_ms < from * 1000);
          return { step_s: step, since_ms: since * 1000, buckets: [...kept, ...answer.buckets] };
        })
        .catch((error) => {
          if (!error.status) throw error;
          return { error: error.message };
        });
    }),
  );
  page.history = new Map(keys.map((key, i) => [key, results[i]]));
  page.historyAt = Date.now();
}

/// Each shown executor's intervals: the whole window once, then only those ending since the
/// newest known (`since`), merged by their end and trimmed to the window.
async function refreshIntervals() {
  const names = shownExecutors().map((e) => e.name);
  const due = names.filter((name) => {
    const known = page.intervals.get(name);
    return !known || Date.now() - known.at >= INTERVALS_MS;
  });
  const newest = (name) => {
    const known = page.intervals.get(name)?.intervals || [];
    return known.length ? known[known.length - 1].end : null;
  };
  const results = await Promise.all(
    due.map((name) => {
      const since = newest(name);
      return api(`api/v1/executors/${encodeURIComponent(name)}/intervals${since === null ? "" : `?since=${since}`}`).catch((error) => {
        if (!error.status) throw error;
        return { intervals: [], error: error.message };
      });
    }),
  );
  const from = Date.now() / 1000 - WINDOW_S;
  due.forEach((name, i) => {
    const byEnd = new Map((page.intervals.get(name)?.intervals || []).map((x) => [x.end, x]));
    for (const x of results[i].intervals) byEnd.set(x.end, x);
    const intervals = [...byEnd.values()].filter((x) => x.end > from).sort((a, b) => a.end - b.end);
    page.intervals.set(name, { ...results[i], intervals, at: Date.now() });
  });
  for (const name of page.intervals.keys()) {
    if (!names.includes(name)) page.intervals.delete(name);
  }
}

// ---- rendering -----------------------------------------------------------------------------

function render() {
  renderOverall();
  renderBanner();
  renderComponents();
  renderExecutors();
  renderIncidents();
  renderQuiet();
  renderFreshness();
  renderCluster();
  // For bench/ui.sh: when the page first showed data.
  if (!performance.getEntriesByName("first-data").length) performance.mark("first-data");
}

/// The components, the worst first (stable: configuration order within a status).
function bySeverity(components) {
  return [...components].sort((a, b) => SEVERITY[a.status] - SEVERITY[b.status]);
}

function renderOverall() {
  const required = page.components.filter((c) => c.required);
  let status = "green";
  let text = "All systems operational";
  if (page.failure) {
    // The last verdict may no longer be true: it is not shown at full strength.
    status = "unknown";
    text = `Unknown: ragwatch unreachable (${page.lastOk ? `last seen ${clock(page.lastOk)}` : "never reached"})`;
  } else if (required.some((c) => c.status === "red")) {
    status = "red";
    text = "Down: " + required.filter((c) => c.status === "red").map((c) => c.key).join(", ");
  } else if (page.components.some((c) => c.status !== "green")) {
    status = "yellow";
    text = "Degraded: " + page.components.filter((c) => c.status !== "green").map((c) => c.key).join(", ");
  }
  const overall = $("overall");
  // Announced (role=status) only when it changes, not on every refresh.
  if (overall.textContent !== text) overall.textContent = text;
  overall.dataset.status = status;
  document.title = `${text} · ragwatch`;
  const icon = $("favicon");
  if (icon.dataset.status !== status) {
    icon.dataset.status = status;
    const image = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">${FAVICON_SHAPES[status]}</svg>`;
    icon.href = `data:image/svg+xml,${encodeURIComponent(image)}`;
  }
  renderProblems();
}

/// Every component that is not green, the worst first, each with since when.
function renderProblems() {
  const list = $("problems");
  const problems = bySeverity(page.components.filter((c) => c.status !== "green"));
  list.hidden = !problems.length;
  list.replaceChildren(
    ...problems.map((c) =>
      el(
        "li",
        { "data-key": c.key, "data-status": c.status },
        el("span", { class: "pill", "data-status": c.status }, c.status),
        " ",
        el("a", { href: `#card-${c.key}` }, c.key),
        c.cause ? ` while ${c.cause}` : "",
        incidentLink(c.key),
      ),
    ),
  );
}

/// " since 14:02:11 (2 h 15 min)", linked to the component's open incident; nothing while
/// none is known (history disabled, or not written yet).
function incidentLink(key) {
  const incident = page.open.get(key);
  if (!incident) return null;
  return [" ", el("a", { class: "since", href: `#incident-${incident.id}`, "data-since": incident.started_at_ms }, sinceText(incident.started_at_ms))];
}

function renderBanner() {
  const banner = $("banner");
  const wasOffline = document.body.classList.contains("offline");
  document.body.classList.toggle("offline", Boolean(page.failure));
  if (wasOffline !== Boolean(page.failure)) renderOverall();
  if (!page.failure) {
    banner.hidden = true;
    return;
  }
  const since = page.lastOk ? ` Showing what it said ${duration(Date.now() - page.lastOk)} ago.` : "";
  banner.textContent = `ragwatch is unreachable: ${page.failure}.${since} Retrying every ${REFRESH_MS / 1000} s.`;
  banner.hidden = false;
}

function renderFreshness() {
  const node = $("freshness");
  if (!page.lastOk) {
    node.textContent = "";
    return;
  }
  const checked = page.components.map((c) => Date.parse(c.checked_at)).filter(Number.isFinite);
  const oldest = checked.length ? Math.min(...checked) : null;
  node.textContent =
    `Updated ${duration(Date.now() - page.lastOk)} ago` +
    (oldest ? ` · oldest check ${duration(Date.now() - oldest)} ago` : "");
}

/// A replica of a cluster says who leads and how many observers are live.
function renderCluster() {
  const node = $("cluster");
  const cluster = page.cluster;
  node.hidden = !cluster || !cluster.enabled;
  if (node.hidden) return;
  const live = cluster.observers.filter((o) => o.live).length;
  const leader = cluster.leader ? `${cluster.leader} leads (term ${cluster.term})` : "no replica leads";
  node.textContent =
    `Cluster: ${leader} · ${live} of ${cluster.observers.length} observers live · ` +
    `quorum ${cluster.quorum} (${cluster.quorum_needed} now) · this is ${cluster.observer}`;
}

/// In a cluster, when the observers disagree: "red from ragwatch-c only".
function observersSplit(c) {
  const seen = Object.entries(c.observers || {});
  const statuses = new Set(seen.map(([, o]) => o.status));
  if (statuses.size < 2) return null;
  const parts = ["red", "yellow"]
    .map((status) => [status, seen.filter(([, o]) => o.status === status).map(([name]) => name)])
    .filter(([, names]) => names.length)
    .map(([status, names]) => `${status} from ${names.join(", ")}${names.length < seen.length ? " only" : ""}`);
  return el("p", { class: "split" }, `Observers disagree: ${parts.join("; ")}`);
}

/// The details worth a glance, per kind; anything else stays in the API.
const DETAILS = {
  elasticsearch: [["cluster_name", "cluster"], ["number_of_nodes", "nodes"], ["number_of_data_nodes", "data nodes"], ["active_shards", "shards"], ["unassigned_shards", "unassigned"]],
  opensearch: null, // same as elasticsearch
  redis: [["version", "version"], ["role", "role"], ["used_memory_bytes", "memory", bytes], ["connected_clients", "clients"], ["evicted_keys", "evicted keys"]],
  mysql: [["version", "version"], ["connections", "connections"], ["max_connections", "max connections"]],
  postgres: null, // same as mysql
  s3: [["bucket", "bucket"], ["buckets", "buckets"]],
  azure: [["container", "container"], ["account", "account"], ["lease_state", "lease"]],
  gcs: [["bucket", "bucket"], ["location", "location"], ["storage_class", "class"]],
  nats: [["server_name", "server"], ["version", "version"], ["max_payload", "max payload", bytes]],
  infinity: [["role", "role"], ["status", "node status"], ["name", "node"], ["address", "address"], ["version", "version"]],
  oceanbase: [["version", "version"], ["server_version", "protocol server"]],
  ragflow: [["queued", "queued"], ["oldest_queued_s", "oldest waiting", (s) => (s == null ? "–" : duration(s * 1000))], ["running", "in progress"], ["stuck", "stuck"]],
  tei: [["model_id", "model"], ["version", "version"], ["max_input_length", "max input"]],
  openai: [["models", "models"], ["names", "names", (names) => names.join(", ")]],
  ollama: null, // same as openai
  task_executors: [["alive", "alive"], ["stale", "stale"], ["dead", "dead"], ["done_30m", "done (30 min)"], ["failed_30m", "failed (30 min)"]],
};
DETAILS.opensearch = DETAILS.elasticsearch;
DETAILS.ollama = DETAILS.openai;
DETAILS.seekdb = DETAILS.gaussdb = DETAILS.serenedb = DETAILS.oceanbase;
DETAILS.postgres = DETAILS.mysql;
DETAILS.mariadb = DETAILS.mysql;
DETAILS.minio = DETAILS.s3;
DETAILS.oss = DETAILS.s3;

function detailRows(component) {
  const details = component.details || {};
  // RAGFlow's task queue streams (their own component, or inside parsing's): one row each.
  const streams = component.kind === "redis_stream" ? details : component.kind === "ragflow" ? details.queue || {} : {};
  const streamRows = Object.entries(streams)
    .filter(([, v]) => v && typeof v === "object" && "pending" in v)
    .map(([name, v]) => [name, `${v.pending} pending · lag ${v.lag ?? "–"}`]);
  const picks = DETAILS[component.key === "task_executors" ? "task_executors" : component.kind];
  if (!picks) {
    return Object.entries(details)
      .filter(([, v]) => typeof v !== "object" || v === null)
      .map(([k, v]) => [k, scalar(v)])
      .concat(streamRows);
  }
  return picks
    .filter(([k]) => k in details)
    .map(([k, label, format]) => [label, format ? format(details[k]) : scalar(details[k])])
    .concat(streamRows);
}

function renderComponents() {
  // Rebuilt on every refresh: keep the keyboard focus on the slot it was on, and an open
  // slot's details beside their slot (or closed when it has left the strip).
  const focused = document.activeElement && document.activeElement.closest(".slot");
  const focusKey = focused && [focused.closest(".card").dataset.key, focused.dataset.start];
  $("components").replaceChildren(...bySeverity(page.components).map(componentCard));
  if (focusKey) {
    const slot = document.querySelector(`.card[data-key="${CSS.escape(focusKey[0])}"] .slot[data-start="${focusKey[1]}"]`);
    if (slot) moveSlotFocus(slot);
  }
  if (page.slot) {
    const slot = openSlot();
    if (slot) placeSlotPopover(slot);
    else closeSlot(false);
  }
}

function componentCard(c) {
  const rows = detailRows(c);
  const history = page.history.get(c.key);
  return el(
    "article",
    { class: "card", id: `card-${c.key}`, "data-key": c.key, "data-status": c.status, "aria-label": `${c.key}: ${c.status}` },
    el(
      "div",
      { class: "card-head" },
      el("h3", {}, c.key),
      el("span", { class: "pill", "data-status": c.status }, c.status),
    ),
    el(
      "p",
      { class: "muted" },
      c.kind,
      c.required ? " · required" : " · optional",
      " · ",
      el("span", { class: "latency" }, millis(c.elapsed_ms)),
    ),
    c.status !== "green" && page.open.has(c.key) ? el("p", { class: "card-since" }, c.status, incidentLink(c.key)) : null,
    c.cause ? el("p", { class: "cause" }, `Unknown while ${c.cause}`) : null,
    observersSplit(c),
    c.error ? el("p", { class: reasonClass(c) }, c.error) : null,
    rows.length ? el("dl", { class: "details" }, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])) : null,
    statusStrip(c.key, history),
  );
}

/// A yellow component's reason is a warning, not an error; a consequence's is muted.
function reasonClass(c) {
  if (c.cause) return "error muted-error";
  return c.status === "yellow" ? "warning" : "error";
}

/// How bad a slot is, besides its worst status: the share of its checks that were not green,
/// in three levels, so that one red check among sixty is a light mark and not a full slot.
function badLevel(bad, total) {
  const share = bad / total;
  return share <= 0.25 ? 1 : share <= 0.75 ? 2 : 3;
}

/// 24 hours of roll-ups, one slot per bucket; a slot has its worst check's status, shaded by
/// the share of bad checks. One tab stop; the arrow keys move between slots, and a click,
/// a tap, Enter or Space opens the slot's details.
function statusStrip(key, history) {
  if (!history) return null;
  if (history.error) return el("p", { class: "muted strip-note" }, `No history: ${history.error}`);
  const step = history.step_s * 1000;
  const buckets = new Map(history.buckets.map((b) => [Math.floor((b.start_ms - history.since_ms) / step), b]));
  const count = (STRIP_SPAN_S * 1000) / step;
  let checks = 0;
  let ok = 0;
  const slots = [];
  for (let i = 0; i < count; i++) {
    const start = history.since_ms + i * step;
    const b = buckets.get(i);
    const total = b ? b.green + b.yellow + b.red : 0;
    const status = !total ? "none" : b.red ? "red" : b.yellow ? "yellow" : "green";
    checks += total;
    ok += total ? b.green + b.yellow : 0;
    const label = `${clock(start)}–${clock(start + step)}: ${total ? `${status} (${b.green} green, ${b.yellow} yellow, ${b.red} red; p95 ${millis(b.latency_p95_ms)})` : "no data"}`;
    slots.push(
      el("span", {
        class: "slot",
        role: "button",
        tabindex: i === count - 1 ? 0 : -1,
        "aria-label": label,
        title: label,
        "data-start": start,
        "data-status": status,
        "data-level": status === "red" || status === "yellow" ? badLevel(b.yellow + b.red, total) : null,
        onclick: (event) => showSlot(key, start, step, b, event.currentTarget),
      }),
    );
  }
  const uptime = checks ? `${percent(ok / checks)} ok (green or yellow) over 24 h` : "no checks in 24 h yet";
  return el(
    "div",
    { class: "strip-wrap" },
    el("div", { class: "strip", role: "group", "aria-label": `${key}, last 24 hours: ${uptime}. Arrow keys move between slots, Enter opens one.`, onkeydown: stripKeys }, slots),
    stripTicks(history.since_ms, history.since_ms + STRIP_SPAN_S * 1000),
    el("p", { class: "muted strip-note" }, el("span", { class: "uptime" }, uptime)),
  );
}

/// Ticks under a strip at every sixth hour of the page's zone, left out near the ends where
/// their labels would not fit.
function stripTicks(from, to) {
  const hour = new Intl.DateTimeFormat("en-GB", { ...zoneOption(), hour: "numeric", minute: "numeric", hourCycle: "h23" });
  const ticks = [];
  // Every quarter hour is a candidate: zones are offset from UTC by whole quarters.
  for (let t = Math.ceil(from / 900000) * 900000; t < to; t += 900000) {
    const parts = Object.fromEntries(hour.formatToParts(t).map((p) => [p.type, p.value]));
    if (Number(parts.minute) !== 0 || (Number(parts.hour) * 3600) % STRIP_TICK_S !== 0) continue;
    const at = (t - from) / (to - from);
    if (at < 0.06 || at > 0.94) continue;
    const label = new Date(t).toLocaleTimeString([], { ...zoneOption(), hour: "2-digit", minute: "2-digit" });
    const tick = el("span", { class: "tick", "data-at": t }, label);
    tick.style.left = `${at * 100}%`; // through the CSSOM: the page's policy refuses style attributes
    ticks.push(tick);
  }
  return el("div", { class: "ticks", "aria-hidden": "true" }, ticks);
}

/// Arrow keys, Home and End between a strip's slots; Enter or Space opens one.
function stripKeys(event) {
  const slot = event.target.closest(".slot");
  if (!slot) return;
  const slots = [...event.currentTarget.querySelectorAll(".slot")];
  const at = slots.indexOf(slot);
  const to = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: slots.length - 1 }[event.key];
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    slot.click();
  } else if (to !== undefined) {
    event.preventDefault();
    moveSlotFocus(slots[Math.max(0, Math.min(slots.length - 1, to))]);
  }
}

function moveSlotFocus(slot) {
  for (const other of slot.parentElement.children) other.setAttribute("tabindex", other === slot ? 0 : -1);
  slot.focus();
}

/// The incident on `key` that overlaps `from`–`to`, if any of the recent ones does.
function incidentDuring(key, from, to) {
  return (page.incidents || []).find((i) => i.component === key && i.started_at_ms < to && (i.open ? Date.now() : i.started_at_ms + i.duration_ms) >= from);
}

/// The slot's details next to it: its span, counts, p95 and the incident it overlaps.
function showSlot(key, start, step, bucket, slot) {
  const popover = $("slot-popover");
  const zone = page.zone === "utc" ? "UTC" : "local";
  const incident = incidentDuring(key, start, start + step);
  const total = bucket ? bucket.green + bucket.yellow + bucket.red : 0;
  page.slot = { key, start };
  $("slot-title").textContent = `${key} · ${dateTime(start)}–${clock(start + step)} ${zone}`;
  const details = [
    total
      ? el(
          "dl",
          { class: "details" },
          el("dt", {}, "checks"),
          el("dd", { class: "counts" }, `${bucket.green} green, ${bucket.yellow} yellow, ${bucket.red} red`),
          el("dt", {}, "p95 latency"),
          el("dd", {}, millis(bucket.latency_p95_ms)),
        )
      : el("p", { class: "muted" }, "No checks in this slot."),
    incident ? el("p", {}, el("a", { class: "incident-link", href: `#incident-${incident.id}` }, `Incident: ${incident.worst}, started ${dateTime(incident.started_at_ms)}`)) : null,
  ];
  $("slot-body").replaceChildren(...details.filter(Boolean));
  popover.hidden = false;
  placeSlotPopover(slot);
  $("slot-title").focus();
}

/// Under the slot, kept inside the viewport's width.
function placeSlotPopover(slot) {
  const popover = $("slot-popover");
  const rect = slot.getBoundingClientRect();
  const width = popover.offsetWidth;
  const viewport = document.documentElement.clientWidth;
  const left = Math.max(8, Math.min(viewport - width - 8, rect.left + rect.width / 2 - width / 2));
  popover.style.left = `${left + window.scrollX}px`;
  popover.style.top = `${rect.bottom + window.scrollY + 6}px`;
}

/// Closes the slot's details; the focus goes back to the slot when it was inside them.
function closeSlot(refocus) {
  const popover = $("slot-popover");
  if (popover.hidden) return;
  popover.hidden = true;
  const slot = openSlot();
  page.slot = null;
  if (refocus && slot) moveSlotFocus(slot);
}

function openSlot() {
  if (!page.slot) return null;
  return document.querySelector(`.card[data-key="${CSS.escape(page.slot.key)}"] .slot[data-start="${page.slot.start}"]`);
}

/// Dead, stale, failing (more than max_failure_rate of its tasks, as the component judges
/// it), then the healthy.
function problemRank(e) {
  if (e.state === "dead") return 0;
  if (e.state === "stale") return 1;
  return e.failing ? 2 : 3;
}

const isProblem = (e) => problemRank(e) < 3;

function shownExecutors() {
  if (!page.executors) return [];
  const filter = page.filter.toLowerCase();
  const matching = page.executors.executors
    .filter((e) => e.name.toLowerCase().includes(filter))
    .sort((a, b) => problemRank(a) - problemRank(b) || a.name.localeCompare(b.name));
  if (page.showAll || filter) return matching;
  // Problems come first and are never hidden behind "Show all": the healthy fill up.
  return matching.slice(0, Math.max(matching.filter(isProblem).length, SHOWN_EXECUTORS));
}

/// The compact view unless the viewer chose the cards; by default beyond COMPACT_BEYOND.
function compactView() {
  return page.view ? page.view === "compact" : page.executors.executors.length > COMPACT_BEYOND;
}

/// The names' common prefix up to a separator ("task_executor_"), left out of short names.
function commonPrefix(names) {
  if (names.length < 2) return "";
  const prefix = names.reduce((p, n) => {
    let i = 0;
    while (i < p.length && p[i] === n[i]) i++;
    return p.slice(0, i);
  });
  return prefix.slice(0, Math.max(...["_", "-", "."].map((s) => prefix.lastIndexOf(s))) + 1);
}

/// The consumer group's figures, the same in every executor's heartbeat: the newest one's.
function queueText() {
  const newest = page.executors.executors
    .filter((e) => e.last_heartbeat && e.pending != null)
    .sort((a, b) => Date.parse(b.last_heartbeat) - Date.parse(a.last_heartbeat))[0];
  return newest ? ` · queue: ${newest.pending} pending, lag ${newest.lag} (newest heartbeat)` : "";
}

/// The tallest bar among the shown executors: one scale for every chart.
function sharedMax(shown) {
  let max = 1;
  for (const e of shown) {
    for (const i of page.intervals.get(e.name)?.intervals || []) max = Math.max(max, barValues(i).reduce((a, b) => a + b));
  }
  return max;
}

function barValues(i) {
  return page.mode === "cumulative" ? [i.done_total, i.failed_total] : [i.done, i.failed];
}

function renderExecutors() {
  const section = $("executors-section");
  section.hidden = !page.executors;
  if (!page.executors) return;
  const s = page.executors.summary;
  $("executors-summary").textContent =
    `${s.alive} alive, ${s.stale} stale, ${s.dead} dead · last 30 min: ${s.done_30m} done, ${s.failed_30m} failed` +
    (s.done_30m + s.failed_30m ? ` (${percent(s.failure_rate)} failed)` : "") +
    queueText() +
    (s.malformed ? ` · ${s.malformed} malformed heartbeats skipped` : "");
  const shown = shownExecutors();
  const compact = compactView();
  for (const radio of document.querySelectorAll('input[name="view"]')) radio.checked = radio.value === (compact ? "compact" : "cards");
  const prefix = commonPrefix(page.executors.executors.map((e) => e.name));
  const max = sharedMax(shown);
  // Rebuilt on every refresh: keep the keyboard focus on the bar it was on.
  const focused = document.activeElement && document.activeElement.closest(".bar");
  const focusKey = focused && [focused.closest(".executor").dataset.name, focused.dataset.end];
  $("executors").replaceChildren(...(compact ? [executorTable(shown, prefix, max)] : shown.map((e) => executorCard(e, max))));
  $("executors").classList.toggle("compact", compact);
  if (focusKey) {
    for (const bar of $("executors").querySelectorAll(".bar")) {
      if (bar.closest(".executor").dataset.name === focusKey[0] && bar.dataset.end === focusKey[1]) moveFocus(bar);
    }
  }
  const total = page.executors.executors.length;
  const hidden = total - shown.length;
  const more = $("show-all");
  more.hidden = Boolean(page.filter) || (page.showAll ? total <= SHOWN_EXECUTORS : hidden === 0);
  more.textContent = page.showAll ? "Show the problems and the first healthy ones" : `Show all ${total} executors (${hidden} healthy not shown)`;
}

function heartbeatText(e) {
  return e.last_heartbeat ? `${duration(Date.now() - Date.parse(e.last_heartbeat))} ago` : "none";
}

/// A failing executor's flag: a pill besides its state, in the component's yellow.
function failingPill(e) {
  return e.failing ? [" ", el("span", { class: "pill", "data-status": "yellow", title: `more than ${percent(page.executors.summary.max_failure_rate)} of its tasks failed` }, "failing")] : null;
}

function failedShare(e) {
  return e.done_30m + e.failed_30m ? `${Math.round(e.failure_rate_30m * 100)} %` : "–";
}

/// One row per executor, its name without the common prefix.
function executorTable(shown, prefix, max) {
  const head = ["Executor", "Host", "State", "Last heartbeat", "Done / failed", "Failed", "Last 30 minutes"];
  return el(
    "table",
    { class: "executor-table" },
    el("caption", { class: "muted" }, prefix ? `Names without their common start “${prefix}”; ` : "", "done and failed over the last 30 minutes, problems first."),
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
    el(
      "tbody",
      {},
      shown.map((e) => {
        const known = page.intervals.get(e.name);
        return el(
          "tr",
          { class: "executor", "data-name": e.name, "data-state": e.state, "data-failing": e.failing },
          el("th", { scope: "row", class: "name", title: e.name, "aria-label": e.name }, e.name.slice(prefix.length) || e.name),
          el("td", { "data-label": "host" }, e.ip_address ?? "–", e.pid != null ? ` · pid ${e.pid}` : ""),
          el("td", { class: "state" }, el("span", { class: "pill", "data-status": e.state }, e.state), failingPill(e)),
          el("td", { "data-label": "last heartbeat" }, heartbeatText(e), e.listed ? "" : " · unregistered"),
          el("td", { "data-label": "done / failed", class: "num" }, `${e.done_30m} / ${e.failed_30m}`),
          el("td", { "data-label": "failed", class: "num" }, failedShare(e)),
          el("td", { class: "spark" }, known ? barChart(e.name, known.intervals || [], max, true) : "Loading…", known && known.error ? el("p", { class: "error" }, known.error) : null),
        );
      }),
    ),
  );
}

function executorCard(e, max) {
  const known = page.intervals.get(e.name);
  return el(
    "article",
    { class: "card executor", "data-name": e.name, "data-state": e.state, "data-failing": e.failing },
    el("div", { class: "card-head" }, el("h3", {}, e.name), el("span", {}, el("span", { class: "pill", "data-status": e.state }, e.state), failingPill(e))),
    el("p", { class: "muted" }, `last heartbeat ${heartbeatText(e)}`, e.listed ? "" : " · no longer registered", e.ip_address ? ` · ${e.ip_address}` : "", e.pid != null ? ` · pid ${e.pid}` : ""),
    el(
      "dl",
      { class: "details" },
      [["running", e.current_tasks], ["done (30 min)", e.done_30m], ["failed (30 min)", e.failed_30m], ["failed share", failedShare(e)]].map(([k, v]) => [el("dt", {}, k), el("dd", {}, scalar(v))]),
    ),
    e.malformed ? el("p", { class: "error" }, `${e.malformed} malformed heartbeats skipped`, e.last_malformed ? `: ${e.last_malformed}` : "") : null,
    known && known.error ? el("p", { class: "error" }, known.error) : null,
    known ? barChart(e.name, known.intervals || [], max, false) : el("p", { class: "muted" }, "Loading…"),
  );
}

/// Spans of the window without heartbeats (longer than two periods): [start, end] seconds.
/// An interval that long is one too: its heartbeats came late.
function gaps(intervals, from, now) {
  const spans = [];
  let covered = from;
  for (const i of intervals) {
    if (i.start - covered > GAP_S) spans.push([covered, i.start]);
    if (i.end - i.start > GAP_S) spans.push([Math.max(i.start, from), i.end]);
    covered = Math.max(covered, i.end);
  }
  if (now - covered > GAP_S) spans.push([covered, now]);
  return spans;
}

/// Moves the chart's one tab stop to `bar` and focuses it.
function moveFocus(bar) {
  for (const other of bar.closest("svg").querySelectorAll(".bar")) other.setAttribute("tabindex", other === bar ? 0 : -1);
  bar.focus();
}

/// Arrow keys, Home and End between a chart's bars; Enter or Space opens one.
function chartKeys(event) {
  const bar = event.target.closest(".bar");
  if (!bar) return;
  const bars = [...event.currentTarget.querySelectorAll(".bar")];
  const at = bars.indexOf(bar);
  const to = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: bars.length - 1 }[event.key];
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    bar.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  } else if (to !== undefined) {
    event.preventDefault();
    moveFocus(bars[Math.max(0, Math.min(bars.length - 1, to))]);
  }
}

/// Done (green) under failed (hatched red) per interval on a 30-minute axis and the shared
/// scale `max`; an interval with nothing done is a tick, a span without heartbeats is
/// hatched grey, a restart a dashed line. One tab stop; the arrow keys move between bars.
function barChart(name, intervals, max, compact) {
  const width = 600;
  const height = compact ? 36 : 120;
  const top = compact ? 2 : 14;
  const tick = compact ? 3 : 4;
  const now = Date.now() / 1000;
  const from = now - WINDOW_S;
  const cumulative = page.mode === "cumulative";
  const scale = (height - top) / max;
  const x = (t) => ((Math.max(t, from) - from) / WINDOW_S) * width;
  const inWindow = intervals.filter((i) => i.end > from);
  const missing = gaps(inWindow, from, now);
  let [done, failed, restarts] = [0, 0, 0];
  const bars = inWindow.map((i, n) => {
    const [d, f] = barValues(i);
    done += i.done;
    failed += i.failed;
    restarts += i.restarted ? 1 : 0;
    const left = x(i.start);
    const barWidth = Math.max(1, x(i.end) - left - 1);
    const label = `${clock(i.start * 1000)}–${clock(i.end * 1000)}: ${d} done, ${f} failed${cumulative ? " in total" : ""}${i.restarted ? " (restarted)" : ""}`;
    return svg(
      "g",
      {
        class: "bar",
        tabindex: n === inWindow.length - 1 ? 0 : -1,
        role: "button",
        "aria-label": label,
        "data-end": Math.round(i.end * 1000),
        "data-done": d,
        "data-failed": f,
        "data-restarted": i.restarted,
        onclick: () => showInterval(name, i),
      },
      svg("title", {}, label),
      svg("rect", { class: "hit", x: left, y: 0, width: barWidth, height }),
      d + f === 0 ? svg("rect", { class: "zero", x: left, y: height - tick, width: barWidth, height: tick }) : null,
      svg("rect", { class: "done", x: left, y: height - d * scale, width: barWidth, height: d * scale }),
      svg("rect", { class: "failed", x: left, y: height - (d + f) * scale, width: barWidth, height: f * scale }),
      i.restarted ? svg("line", { class: "restart", x1: left + 0.5, y1: 0, x2: left + 0.5, y2: height }) : null,
    );
  });
  const summary =
    `${name}, last 30 minutes: ${done} done, ${failed} failed in ${inWindow.length} intervals` +
    (restarts ? `, ${restarts} restart${restarts > 1 ? "s" : ""}` : "") +
    (missing.length ? `, ${duration(missing.reduce((s, [a, b]) => s + b - a, 0) * 1000)} without heartbeats` : "") +
    (bars.length ? ". Arrow keys move between intervals, Enter opens one." : ".");
  return el(
    "figure",
    { class: compact ? "chart spark" : "chart" },
    svg(
      "svg",
      { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "group", "aria-label": summary, onkeydown: chartKeys },
      missing.map(([a, b]) => svg("rect", { class: "gap", x: x(a), y: 0, width: Math.max(1, x(b) - x(a)), height }, svg("title", {}, `${clock(a * 1000)}–${clock(b * 1000)}: no heartbeat`))),
      svg("line", { class: "axis", x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5 }),
      bars,
    ),
    compact ? null : el("figcaption", { class: "muted axis-labels" }, el("span", {}, "30 min ago"), el("span", {}, `scale: ${max}${cumulative ? " in total" : " per interval"}, all executors`), el("span", {}, "now")),
    intervals.length || compact ? null : el("p", { class: "muted" }, "No heartbeats in the last 30 minutes."),
  );
}

async function showInterval(name, interval) {
  const dialog = $("interval-dialog");
  $("interval-title").textContent = `${name} · ${clock(interval.start * 1000)}–${clock(interval.end * 1000)}`;
  const body = $("interval-body");
  body.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  // Opens on its heading (focusable, and first), not the close button: a screen reader
  // says what opened, and a phone does not scroll sideways to the button.
  if (!dialog.open) dialog.showModal();
  try {
    const details = await api(`api/v1/executors/${encodeURIComponent(name)}/intervals/${Math.round(interval.end * 1000)}`);
    body.replaceChildren(...intervalDetails(details).filter(Boolean));
  } catch (error) {
    if (error instanceof AuthError) {
      dialog.close();
      showTokenPrompt(refusalText(error));
      return;
    }
    body.replaceChildren(el("p", { class: "error" }, `Cannot load this interval: ${error.message}`));
  }
}

/// The cause in a RAGFlow progress message: its last line, without the time and the
/// [ERROR] tag RAGFlow puts before it.
function lastLine(message) {
  const lines = String(message ?? "").split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.length ? lines[lines.length - 1] : "";
}

function cause(message) {
  return lastLine(message).replace(/^\d\d:\d\d:\d\d\s*/, "").replace(/^\[ERROR\]\s*/i, "") || "no message";
}

/// "CUDA out of memory (2), timeout (1)": failures by cause, the most frequent first.
function causes(tasks) {
  const counts = new Map();
  for (const t of tasks) counts.set(cause(t.progress_msg), (counts.get(cause(t.progress_msg)) || 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([text, n]) => `${text} (${n})`).join(", ");
}

/// This executor's failed tasks, then its others, then the rest failed, then the rest.
function taskRank(t) {
  return (t.ran_here ? 0 : 2) + (t.outcome === "failed" ? 0 : 1);
}

function intervalDetails(details) {
  const i = details.interval;
  const beat = i.heartbeat || {};
  const current = beat.current && typeof beat.current === "object" ? Object.values(beat.current) : [];
  const fields = Object.entries(beat).filter(([k]) => k !== "current");
  const tasks = [...(details.tasks || [])].sort((a, b) => taskRank(a) - taskRank(b));
  const failedHere = tasks.filter((t) => t.ran_here && t.outcome === "failed");
  const failedElsewhere = tasks.filter((t) => !t.ran_here && t.outcome === "failed");
  const filters = { here: false, failed: i.failed > 0 || failedHere.length > 0 };
  const body = el("tbody", {});
  const count = el("span", { class: "muted" });
  const fill = () => {
    const shown = tasks.filter((t) => (!filters.here || t.ran_here) && (!filters.failed || t.outcome === "failed"));
    body.replaceChildren(...shown.map(taskRow));
    count.textContent = `showing ${shown.length} of ${tasks.length}`;
  };
  const filter = (key, label) =>
    el("label", {}, el("input", { type: "checkbox", checked: filters[key], onchange: (event) => ((filters[key] = event.target.checked), fill()) }), ` ${label}`);
  fill();
  return [
    el(
      "p",
      { class: i.failed ? "summary warning" : "summary" },
      `${i.failed} failed here`,
      failedHere.length ? `: ${causes(failedHere)}` : "",
      `, ${i.done} done`,
      failedElsewhere.length ? ` · failed in this window on any executor: ${causes(failedElsewhere)}` : "",
    ),
    el(
      "dl",
      { class: "details" },
      [["done", i.done], ["failed", i.failed], ["pending", i.pending], ["lag", i.lag], ["restarted", i.restarted ? "yes" : "no"]].map(([k, v]) => [el("dt", {}, k), el("dd", {}, scalar(v))]),
    ),
    el("h3", {}, `Finished or failed in this interval (${tasks.length})`),
    el("p", { class: "muted" }, "RAGFlow does not record which executor ran a task: “here” marks those this executor was running when the interval began."),
    details.tasks_error ? el("p", { class: "error" }, details.tasks_error) : null,
    tasks.length ? el("div", { class: "filters" }, filter("here", "this executor"), filter("failed", "failed only"), count) : null,
    tasks.length
      ? el(
          "table",
          { class: "tasks stacking" },
          el("thead", {}, el("tr", {}, ["Document", "Outcome", "Took", "Here", "Message"].map((h) => el("th", { scope: "col" }, h)))),
          body,
        )
      : details.tasks_error
        ? null
        : el("p", { class: "muted" }, "No task ended in this interval."),
    el("h3", {}, `Running at its end (${current.length})`),
    current.length
      ? el(
          "table",
          { class: "stacking" },
          el("thead", {}, el("tr", {}, ["Document", "Type", "Pages", "Parser", "Task"].map((h) => el("th", { scope: "col" }, h)))),
          el(
            "tbody",
            {},
            current.map((t) =>
              el(
                "tr",
                {},
                el("td", { "data-label": "document", class: "name" }, scalar(t.name ?? t.doc_id)),
                el("td", { "data-label": "type" }, scalar(t.type ?? t.task_type)),
                el("td", { "data-label": "pages" }, pageRange(t.from_page, t.to_page)),
                el("td", { "data-label": "parser" }, scalar(t.parser_id)),
                el("td", { "data-label": "task", class: "mono" }, scalar(t.id)),
              ),
            ),
          ),
        )
      : el("p", { class: "muted" }, "Nothing was running."),
    el(
      "details",
      { class: "heartbeat" },
      el("summary", {}, "Heartbeat at the end of the interval"),
      el("table", { class: "fields" }, el("tbody", {}, fields.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, zonedValue(v)))))),
    ),
  ];
}

/// Which components a window or silence quiets.
function quietComponents(components) {
  return components.length ? components.join(", ") : "all components";
}

/// The maintenance windows holding now or coming next, and the silences: notifications
/// about their components wait.
function renderQuiet() {
  const { windows, silences } = page.maintenance;
  const comment = (text) => (text ? ` (${text})` : "");
  const items = [
    ...windows
      .filter((w) => w.active)
      .map((w) => el("li", { "data-active": true }, `Maintenance now, until ${dateTime(Date.parse(w.active.end))}: ${quietComponents(w.components)}${comment(w.comment)}`)),
    ...silences.map((s) => el("li", { "data-active": true }, `Silenced until ${dateTime(Date.parse(s.until))}: ${quietComponents(s.components)}${comment(s.comment)}`)),
    ...windows
      .filter((w) => w.next)
      .map((w) => el("li", {}, `Next maintenance ${dateTime(Date.parse(w.next.start))} to ${dateTime(Date.parse(w.next.end))}: ${quietComponents(w.components)}${comment(w.comment)}`)),
  ];
  $("quiet").replaceChildren(...items);
  $("quiet-section").hidden = items.length === 0;
}

const QUIET_MARK = { maintenance: "in maintenance", silence: "silenced" };


/// A task that ended: its last message line in view, the whole log behind a disclosure.
function taskRow(t) {
  const message = String(t.progress_msg ?? "");
  const lines = message.split("\n").filter((l) => l.trim()).length;
  return el(
    "tr",
    { "data-outcome": t.outcome, "data-here": t.ran_here },
    el("td", { "data-label": "document", class: "name" }, scalar(t.document_name ?? t.doc_id)),
    el("td", { "data-label": "outcome" }, el("span", { class: "pill", "data-status": t.outcome === "failed" ? "red" : "green" }, t.outcome)),
    el("td", { "data-label": "took" }, t.process_duration != null ? `${t.process_duration.toFixed(1)} s` : "–"),
    el("td", { "data-label": "here" }, t.ran_here ? "yes" : "–"),
    el(
      "td",
      { class: "message" },
      el("span", { class: "last-line" }, lastLine(message) || "–"),
      lines > 1 ? el("details", {}, el("summary", {}, `Full log (${lines} lines)`), el("pre", { class: "log" }, message)) : null,
    ),
  );
}

function renderIncidents() {
  const body = $("incidents").tBodies[0];
  const note = $("incidents-note");
  if (page.incidents === null) {
    body.replaceChildren();
    note.hidden = false;
    note.textContent = `Incidents are not available: ${page.incidentsError}`;
    return;
  }
  note.hidden = page.incidents.length > 0;
  note.textContent = "No incidents in the last 7 days.";
  body.replaceChildren(
    ...page.incidents.map((i) =>
      el(
        "tr",
        { id: `incident-${i.id}`, "data-open": i.open },
        el("td", {}, i.component),
        el("td", { "data-label": "now" }, i.open ? el("span", { class: "pill", "data-status": i.last }, i.last) : el("span", { class: "muted" }, "ended")),
        el(
          "td",
          { "data-label": "worst" },
          el("span", { class: "pill", "data-status": i.worst }, i.worst),
          i.quiet ? el("span", { class: "muted quiet-mark" }, ` ${QUIET_MARK[i.quiet] || i.quiet}`) : null,
        ),
        el("td", { "data-label": "started" }, dateTime(i.started_at_ms)),
        el("td", { "data-label": "duration" }, i.open ? `${duration(Date.now() - i.started_at_ms)}, ongoing` : duration(i.duration_ms)),
        el("td", { class: "message", "data-label": "first error" }, i.first_error || "–"),
      ),
    ),
  );
}

// ---- token ---------------------------------------------------------------------------------

/// What the token prompt says of a refusal: nothing when no token was given yet.
function refusalText(error) {
  if (error.loopbackOnly) return error.message;
  return page.token ? `Not accepted: ${error.message}` : null;
}

function showTokenPrompt(message) {
  const dialog = $("token-dialog");
  const error = $("token-error");
  error.hidden = !message;
  error.textContent = message || "";
  $("sign-out").hidden = true;
  if (!dialog.open) dialog.showModal();
  $("token-input").focus();
}

function hideTokenPrompt() {
  const dialog = $("token-dialog");
  if (dialog.open) dialog.close();
  $("sign-out").hidden = !page.token;
}

// ---- start ---------------------------------------------------------------------------------

function start() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    page.token = $("token-input").value.trim();
    $("token-input").value = "";
    sessionStorage.setItem(TOKEN_KEY, page.token);
    refresh();
  });
  // The prompt cannot be dismissed: without a token there is nothing to show.
  $("token-dialog").addEventListener("cancel", (event) => event.preventDefault());
  $("sign-out").addEventListener("click", () => {
    page.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    clearTimeout(page.timer);
    showTokenPrompt(null);
  });
  $("interval-close").addEventListener("click", () => $("interval-dialog").close());
  $("slot-close").addEventListener("click", () => closeSlot(true));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeSlot(true);
  });
  // A click or tap elsewhere closes a slot's details; on a slot, it opens that one's.
  document.addEventListener("click", (event) => {
    if (!event.target.closest("#slot-popover, .slot")) closeSlot(false);
  });
  $("zone-local-name").textContent = localZoneName();
  for (const radio of document.querySelectorAll('input[name="zone"]')) {
    radio.checked = radio.value === page.zone;
    radio.addEventListener("change", () => {
      page.zone = radio.value;
      localStorage.setItem(ZONE_KEY, page.zone);
      if (page.lastOk) render();
    });
  }
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", () => {
      page.mode = radio.value;
      renderExecutors();
    });
  }
  for (const radio of document.querySelectorAll('input[name="view"]')) {
    radio.addEventListener("change", () => {
      page.view = radio.value;
      renderExecutors();
    });
  }
  $("executor-filter").addEventListener("input", (event) => {
    page.filter = event.target.value.trim();
    renderExecutors();
    refreshIntervals().then(renderExecutors, () => {});
  });
  $("show-all").addEventListener("click", () => {
    page.showAll = !page.showAll;
    renderExecutors();
    refreshIntervals().then(renderExecutors, () => {});
  });
  setInterval(() => {
    renderFreshness();
    if (page.failure) renderBanner();
  }, 1000);
  refresh();
}

start();
