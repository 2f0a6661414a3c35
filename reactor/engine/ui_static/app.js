// The bluegreen dashboard: reads /v1/deployments (every second and after each event) and the
// /v1/events stream, draws the groups, a timeline and the event list, and posts control commands.
// Plain browser JavaScript, no library, no build step. The API token is kept in sessionStorage.
"use strict";

const TOKEN_KEY = "bluegreen-api-token";
const MAX_SAMPLES = 900;
const MAX_EVENTS = 200;
const state = { rows: [], samples: {}, selected: null, eventsSeen: 0, lastEventId: "" };

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
function headers() { const t = token(); return t ? { Authorization: "Bearer " + t } : {}; }
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function say(text, bad) {
  const m = document.getElementById("message");
  m.textContent = text;
  m.style.color = bad ? "#c62828" : "#2e7d32";
}

async function api(method, path) {
  const resp = await fetch(path, { method, headers: headers() });
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (!resp.ok) {
    let msg = (body && (body.message || body.error)) || resp.statusText;
    if (resp.status === 401 || resp.status === 403) msg += " — paste the daemon's API token above";
    throw new Error(msg);
  }
  return body;
}

// ---- groups table ---------------------------------------------------------------------------
function shortTask(id) {
  for (const m of [".instance-", ".marathon-"]) {
    const i = id.indexOf(m);
    if (i >= 0) return id.slice(i + m.length, i + m.length + 8);
  }
  return id.slice(-12);
}
function pending(row) {
  return (row.draining || []).map(d => shortTask(d.task) + ": " + (d.pending === null ? "?" : d.pending));
}
function share(c) {
  const b = c.pool_blue || 0, g = c.pool_green || 0;
  return b + g ? Math.round(100 * g / (b + g)) : 0;
}
function actionButton(group, label, command) {
  const b = el("button", label);
  b.dataset.group = group;
  b.dataset.command = command;
  b.addEventListener("click", () => command_(group, label, command));
  return b;
}
async function command_(group, label, command) {
  try {
    const r = await api("POST", "/v1/deployments/" + encodeURIComponent(group) + "/" + command);
    say(group + ": " + label + " accepted (phase was " + r.phase + ")");
    refresh();
  } catch (e) { say(group + ": " + label + " refused: " + e.message, true); }
}
function renderGroups() {
  const body = document.querySelector("#groups tbody");
  body.replaceChildren();
  document.getElementById("no-groups").hidden = state.rows.length > 0;
  for (const row of state.rows) {
    const c = row.counts || {};
    const tr = el("tr");
    tr.dataset.group = row.group;
    if (row.group === state.selected) tr.className = "selected";
    tr.addEventListener("click", ev => { if (ev.target.tagName !== "BUTTON") select(row.group); });
    tr.append(el("td", row.group), el("td", row.phase, "phase phase-" + row.phase),
      el("td", (row.blue_app || "-") + " · live " + (c.blue_live || 0) + " · killed " + (c.blue_killed || 0)),
      el("td", (row.green_app || "-") + " · healthy " + (c.green_healthy || 0) + "/" + (c.target || 0)),
      el("td", (c.pool_blue || 0) + " BLUE / " + (c.pool_green || 0) + " GREEN (" + share(c) + "%)"),
      el("td", pending(row).join(", ") || "-"),
      el("td", [...new Set(row.blockers || [])].join("; ") || (row.paused_reason || "-")));
    const actions = el("td");
    if (!["done", "rolled_back", "failed"].includes(row.phase)) {
      actions.append(actionButton(row.group, "promote", "promote"),
        row.phase === "paused" ? actionButton(row.group, "resume", "resume")
                               : actionButton(row.group, "pause", "abort"),
        actionButton(row.group, "rollback", "rollback"));
    }
    tr.append(actions);
    body.append(tr);
  }
}
function select(group) {
  state.selected = group;
  document.getElementById("timeline-group").textContent = group ? "— " + group : "";
  renderGroups();
  drawTimeline();
}

// ---- timeline ---------------------------------------------------------------------------------
function sample(row) {
  const c = row.counts || {};
  const list = state.samples[row.group] || (state.samples[row.group] = []);
  list.push({ t: Date.now(), blue: c.blue_live || 0, green: c.green_healthy || 0, share: share(c),
    pending: (row.draining || []).reduce((n, d) => n + (d.pending || 0), 0), target: c.target || 0 });
  if (list.length > MAX_SAMPLES) list.shift();
}
function drawTimeline() {
  const cv = document.getElementById("timeline"), g = cv.getContext("2d");
  g.clearRect(0, 0, cv.width, cv.height);
  const list = state.samples[state.selected] || [];
  if (list.length < 2) return;
  const pad = 30, w = cv.width - 2 * pad, h = cv.height - 2 * pad;
  const t0 = list[0].t, t1 = list[list.length - 1].t || t0 + 1;
  const top = Math.max(1, ...list.map(s => Math.max(s.blue, s.green, s.target, s.pending)));
  g.strokeStyle = "#ccc"; g.strokeRect(pad, pad, w, h);
  g.fillStyle = "#666"; g.font = "11px sans-serif";
  g.fillText(String(top), 4, pad + 4); g.fillText("0", 4, pad + h); g.fillText("100%", cv.width - pad + 2, pad + 4);
  g.fillText(Math.round((t1 - t0) / 1000) + " s", pad + w - 30, pad + h + 16);
  const x = s => pad + (w * (s.t - t0)) / Math.max(1, t1 - t0);
  const line = (key, color, scale) => {
    g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
    list.forEach((s, i) => { const y = pad + h - (h * s[key]) / scale; i ? g.lineTo(x(s), y) : g.moveTo(x(s), y); });
    g.stroke();
  };
  line("blue", "#1565c0", top); line("green", "#2e7d32", top);
  line("share", "#8e24aa", 100); line("pending", "#ef6c00", top);
}

// ---- data ----------------------------------------------------------------------------------------
// One read of /v1/deployments for a burst of events (the first connection replays up to
// MAX_EVENTS of them at once), not one request per event.
let refreshTimer = null;
function refreshSoon() {
  if (refreshTimer !== null) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 100);
}

async function refresh() {
  try {
    const body = await api("GET", "/v1/deployments");
    state.rows = body.deployments || [];
    state.rows.forEach(sample);
    if (!state.selected && state.rows.length) state.selected = state.rows[0].group;
    select(state.selected);
  } catch (e) { say("cannot read deployments: " + e.message, true); }
}
function addEvent(ev) {
  const list = document.getElementById("events");
  const at = String(ev.timestamp || "").slice(11, 19);
  const tasks = (ev.tasks || []).map(shortTask).join(", ");
  const text = at + " " + ev.group + " " + ev.event + (tasks ? " [" + tasks + "]" : "") +
    (ev.reason ? " — " + ev.reason : "");
  list.prepend(el("li", text));
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
  state.eventsSeen += 1;
  list.dataset.count = String(state.eventsSeen);
}
let streamAbort = null;
async function stream() {  // fetch (not EventSource): it can send the Authorization header
  const conn = document.getElementById("conn");
  for (;;) {
    restartNow = false;
    streamAbort = new AbortController();
    try {
      // first connection: the buffered recent events (missed while no token was set); later: from the last id
      const extra = state.lastEventId ? { "Last-Event-ID": state.lastEventId } : {};
      const url = "/v1/events" + (state.lastEventId ? "" : "?recent=" + MAX_EVENTS);
      const resp = await fetch(url, { headers: { ...headers(), ...extra, Accept: "text/event-stream" },
                                      signal: streamAbort.signal });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      conn.textContent = "live"; conn.className = "conn live";
      const reader = resp.body.getReader(), dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, i); buf = buf.slice(i + 2);
          const idLine = frame.split("\n").find(l => l.startsWith("id:"));
          if (idLine) state.lastEventId = idLine.slice(3).trim();
          const data = frame.split("\n").filter(l => l.startsWith("data:")).map(l => l.slice(5).trim()).join("\n");
          if (data) { try { addEvent(JSON.parse(data)); refreshSoon(); } catch (e) { /* not an event */ } }
        }
      }
    } catch (e) { /* reconnect below */ }
    conn.textContent = token() ? "reconnecting…" : "paste the API token to follow events";
    conn.className = "conn down";
    if (!restartNow) await new Promise(r => { wakeStream = r; setTimeout(r, 2000); });
  }
}
let wakeStream = () => {};
let restartNow = false;
function restartStream() {  // a new token: connect again now, not after the retry delay
  restartNow = true;
  if (streamAbort) streamAbort.abort();
  wakeStream();
}

document.getElementById("token-form").addEventListener("submit", ev => {
  ev.preventDefault();
  const input = document.getElementById("token");
  if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = "";
  document.getElementById("token-state").textContent = token() ? "token set" : "";
  refresh();
  restartStream();
});
document.getElementById("token-state").textContent = token() ? "token set" : "";
refresh();
setInterval(refresh, 1000);
stream();
