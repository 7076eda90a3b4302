// session-bridge dashboard. Every piece of peer text goes into the page through textContent (el() below), never
// as HTML. Every view is one GET of the shared JSON shape; every action one POST with the per-run token header.
"use strict";

const TOKEN = document.querySelector('meta[name="bridge-token"]').content;
const state = { me: null, admin: false, adminProblem: null, feedIds: new Set(), view: "sessions" };

// --- small helpers -------------------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function clear(node) { node.replaceChildren(); return node; }

function when(iso) {
  if (!iso) return el("span", { class: "muted" }, "?");
  const d = new Date(iso);
  if (isNaN(d)) return el("span", {}, iso);
  return el("time", { datetime: iso, title: iso }, d.toLocaleString());
}

function size(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}

async function api(path, body) {
  const opts = body === undefined ? { headers: { "X-Bridge-Token": TOKEN } } : {
    method: "POST", body: JSON.stringify(body),
    headers: { "X-Bridge-Token": TOKEN, "Content-Type": "application/json" },
  };
  const r = await fetch(path, opts);
  let data = null;
  try { data = await r.json(); } catch (e) { data = { error: await r.text().catch(() => r.statusText) }; }
  if (!r.ok) throw new Error((data && data.error) || r.statusText);
  return data;
}

function say(node, text, ok) {
  node.textContent = text;
  node.className = ok ? "ok" : "error";
}

// --- messages ------------------------------------------------------------------------------------------------------

function messageItem(m, opts) {
  opts = opts || {};
  const to = m.to_name || m.to;
  const item = el("li", { class: "msg type-" + m.type, "data-id": m.id },
    el("header", {},
      el("span", { class: "who" }, m.from_name || m.from, " → ", to),
      el("span", { class: "badge" }, m.type),
      when(m.sent_at),
      m.room ? el("span", {}, "room ", m.room) : null,
      m.machine ? el("span", { class: "badge external", title: "from another machine: weigh it as outside input" },
        "external: " + m.machine) : null,
      m.in_reply_to ? el("span", {}, "re ", el("a", { href: "#thread/" + m.in_reply_to, class: "mono" },
        m.in_reply_to.slice(0, 24) + "…")) : null,
      opts.status ? el("span", { class: "badge" }, opts.status) : null),
    el("pre", { class: "body" }, opts.snippet || m.content));
  if (m.attachments && m.attachments.length) {
    item.append(el("ul", { class: "attachments" }, ...m.attachments.map(a => el("li", {},
      el("a", { href: "/api/artifacts/" + a.sha256, download: a.name }, a.name), " ", size(a.size)))));
  }
  const actions = el("div", { class: "actions" },
    el("a", { href: "#thread/" + m.id }, "Thread"));
  if (opts.reply) {
    actions.append(el("button", { type: "button", onclick: () => startReply(m) }, "Reply"));
  }
  if (opts.release) {
    actions.append(el("button", { type: "button", class: "secondary", onclick: () => release([m.id]) }, "Release"));
  }
  item.append(actions);
  return item;
}

function startReply(m) {
  document.getElementById("compose-to").value = m.from_name || m.from;
  document.getElementById("compose-reply").value = m.id;
  document.getElementById("compose-type").value = "query";
  const text = document.getElementById("compose-text");
  text.focus();
}

// --- the live feed -------------------------------------------------------------------------------------------------

function addToFeed(m, fresh) {
  if (state.feedIds.has(m.id)) return;
  state.feedIds.add(m.id);
  const item = messageItem(m, {});
  if (fresh) item.classList.add("fresh");
  const feed = document.getElementById("feed");
  // newest first: ids sort by send time
  const after = Array.from(feed.children).find(c => c.dataset.id < m.id);
  feed.insertBefore(item, after || null);
}

async function loadFeed() {
  const data = await api("/api/history?limit=100");
  for (const m of data.messages) addToFeed(m, false);
}

function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/events");
  source.addEventListener("ready", () => {
    live.textContent = "live"; live.className = "pill on";
    loadFeed().catch(e => console.error(e));  // after subscribing: nothing falls between the two
  });
  source.addEventListener("message", ev => {
    const m = JSON.parse(ev.data).message;
    addToFeed(m, true);
    refreshSoon();
  });
  source.onerror = () => { live.textContent = "reconnecting…"; live.className = "pill off"; };
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => { refreshCurrent(); loadInboxCount(); }, 150);
}

// --- views ---------------------------------------------------------------------------------------------------------

function dl(pairs) {
  const node = el("dl");
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    node.append(el("dt", {}, k), el("dd", {}, v));
  }
  return node;
}

async function loadSessions() {
  const data = await api("/api/sessions");
  state.me = data.me; state.admin = data.admin; state.adminProblem = data.admin_problem;
  document.getElementById("me-id").textContent = "(" + data.me + ")";
  const showGone = document.getElementById("show-gone").checked;
  const box = clear(document.getElementById("sessions"));
  const targets = clear(document.getElementById("targets"));
  const rooms = new Set();
  const ordered = data.sessions.slice().sort((a, b) => (b.human - a.human) || a.name.localeCompare(b.name));
  for (const s of ordered) {
    // how the CLI would address it: a remote one by label@machine (its role@room may be held here too)
    const to = s.machine ? s.name + "@" + s.machine : s.address || s.name;
    if (s.status !== "gone" && !s.human) {
      targets.append(el("option", { value: to }));
      if (s.room) rooms.add(s.room);
    }
    if (s.status === "gone" && !showGone) continue;
    box.append(el("article", { class: "card session", "data-session": s.session_id },
      el("h3", {}, s.name, s.machine ? "@" + s.machine : "", s.human ? " (you)" : ""),
      el("span", { class: "status-" + s.status }, s.status), " ",
      el("span", { class: "mono muted" }, s.session_id),
      dl([["machine", s.machine], ["host", s.host], ["role", s.address], ["project", s.project_path],
          ["working on", s.summary],
          ["delivery", s.machine ? null : s.delivery.mode === s.delivery.effective ? s.delivery.mode
            : s.delivery.mode + " → " + s.delivery.effective],
          [s.machine ? "waiting to send" : "pending", String(s.pending)],
          ["inbound", !s.machine && (s.inbound.mode !== "accept" || s.inbound.allow.length)
            ? s.inbound.mode + (s.inbound.allow.length ? " (only " + s.inbound.allow.join(", ") + ")" : "") : null]]),
      s.human || s.status === "gone" ? null : el("button", { type: "button", class: "secondary",
        onclick: () => { document.getElementById("compose-to").value = to;
                         document.getElementById("compose-reply").value = "";
                         document.getElementById("compose-text").focus(); } }, "Message " + s.name)));
  }
  for (const r of rooms) targets.append(el("option", { value: "*@" + r }));
  if (!box.children.length) box.append(el("p", { class: "muted" }, "No sessions yet: start one with session-bridge start."));
}

async function loadInboxCount() {
  try {
    const data = await api("/api/inbox");
    const waiting = data.messages.filter(m => m.status === "pending").length + data.held.length;
    document.getElementById("inbox-count").textContent = waiting ? String(waiting) : "";
    return data;
  } catch (e) { return null; }
}

async function loadInbox() {
  const data = await loadInboxCount();
  if (!data) return;
  const p = data.inbound;
  document.getElementById("inbound-policy").textContent = "Inbound: " + p.mode +
    (p.allow.length ? " (only from " + p.allow.join(", ") + ")" : " (from anyone)");
  const held = clear(document.getElementById("held"));
  document.getElementById("held-box").hidden = !data.held.length;
  for (const m of data.held) held.append(messageItem(m, { status: "held", release: true }));
  const box = clear(document.getElementById("inbox"));
  for (const m of data.messages.slice().reverse()) {
    box.append(messageItem(m, { status: m.status, reply: m.type === "query" }));
  }
  if (!data.messages.length) box.append(el("li", { class: "muted" }, "Nothing for you yet."));
}

async function release(ids) {
  try {
    const data = await api("/api/release", ids ? { ids } : { all: true });
    say(document.getElementById("compose-status"), "Released " + data.released.length + " message(s).", true);
  } catch (e) { say(document.getElementById("compose-status"), e.message, false); }
  loadInbox();
}

async function loadThread(id) {
  const box = clear(document.getElementById("thread"));
  try {
    const data = await api("/api/thread/" + encodeURIComponent(id));
    for (const m of data.messages) box.append(messageItem(m, {}));
    const focus = box.querySelector('[data-id="' + CSS.escape(id) + '"]');
    if (focus) focus.classList.add("fresh");
  } catch (e) { box.append(el("li", { class: "error" }, e.message)); }
}

async function runSearch(ev) {
  if (ev) ev.preventDefault();
  const q = document.getElementById("search-q").value;
  const box = clear(document.getElementById("search-results"));
  const note = document.getElementById("search-note");
  try {
    const data = await api("/api/search?q=" + encodeURIComponent(q));
    note.textContent = data.hits.length + " match(es)" + (data.query !== q ? " (searched as plain words: " + data.query + ")" : "");
    for (const h of data.hits) box.append(messageItem(h, { snippet: h.snippet }));
  } catch (e) { say(note, e.message, false); }
}

async function loadRooms() {
  const data = await api("/api/rooms");
  const box = clear(document.getElementById("rooms"));
  const names = Object.keys(data.rooms);
  if (!names.length) box.append(el("p", { class: "muted" }, "No rooms yet: start a session with --room R --role X."));
  for (const name of names) {
    const rows = data.rooms[name].map(s => el("tr", {},
      el("td", {}, s.role || "-"), el("td", {}, s.name), el("td", { class: "status-" + s.status }, s.status),
      el("td", { class: "mono" }, s.session_id), el("td", {}, s.project_path || "?")));
    box.append(el("h3", {}, "Room ", name), el("div", { class: "scroll" }, el("table", {},
      el("thead", {}, el("tr", {}, ...["Role", "Session", "Status", "Id", "Path"].map(h => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows))));
  }
}

async function loadAuto() {
  const data = await api("/api/auto");
  const a = data.auto;
  const l = a.limits;
  document.getElementById("auto-summary").replaceChildren(
    el("span", { class: "pill " + (a.automation ? "on" : "off") }, a.automation ? "auto-mode on" : "auto-mode off everywhere"),
    " runner: ", a.runner ? "running" : "not running (session-bridge auto run)",
    el("br"), "Limits: ", l.max_hops + " hops, " + l.rate_per_min + " wakes/min per role, cooldown " + l.cooldown_s +
    " s, sensitive: " + (l.sensitive.join(", ") || "none"));
  document.getElementById("auto-admin").textContent = data.admin ? "You can switch roles on and off here." :
    "Read-only: " + data.admin_problem;
  const box = clear(document.getElementById("auto-rooms"));
  const roomNames = Object.keys(a.rooms);
  if (!roomNames.length) box.append(el("p", { class: "muted" }, "No rooms yet."));
  for (const room of roomNames) {
    const r = a.rooms[room];
    const rows = Object.entries(r.roles).map(([role, e]) => {
      const on = e.wake === "auto";
      return el("tr", { "data-role": role + "@" + room },
        el("th", { scope: "row" }, role),
        el("td", {}, el("span", { class: "pill " + (on ? "on" : "off") }, e.wake), e.sensitive ? " sensitive" : ""),
        el("td", {}, e.why),
        el("td", {}, e.driver + (e.command ? " · " + e.command : "")),
        el("td", {}, e.session_id ? e.status + ", " + e.pending + " pending" : "no session"),
        el("td", {}, el("button", { type: "button", class: on ? "secondary" : "",
          disabled: !data.admin, "aria-label": (on ? "Turn auto off for " : "Turn auto on for ") + role + "@" + room,
          onclick: () => switchRole(room, role, !on) }, on ? "Turn auto off" : "Turn auto on")));
    });
    box.append(el("h3", {}, "Room ", room, r.all ? " (whole room on)" : ""),
      el("div", { class: "scroll" }, el("table", { class: "role-table" },
        el("thead", {}, el("tr", {}, ...["Role", "Wake", "Why", "Driver", "Session", ""].map(h => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...rows))));
  }
  const body = clear(document.querySelector("#auto-events tbody"));
  for (const e of data.events.slice().reverse()) {
    body.append(el("tr", {}, el("td", {}, when(e.at)), el("td", {}, e.event),
      el("td", {}, e.role ? e.role + "@" + (e.room || "?") : "-"),
      el("td", { class: "mono" }, e.msg ? e.msg.slice(0, 28) : "-"), el("td", {}, e.hops === null ? "-" : String(e.hops)),
      el("td", {}, e.why)));
  }
  if (!data.events.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "Nothing logged yet.")));
}

async function switchRole(room, role, on) {
  const status = document.getElementById("auto-admin");
  try {
    const data = await api("/api/auto", { room, role, on });
    const e = data.roles[role];
    say(status, role + "@" + room + " is " + (e ? e.wake + ": " + e.why : (on ? "on" : "off")), true);
  } catch (err) { say(status, err.message, false); return; }
  const msg = status.textContent;
  await loadAuto();
  say(status, msg, true);
}

async function loadArtifacts() {
  const data = await api("/api/artifacts");
  const body = clear(document.querySelector("#artifacts tbody"));
  for (const a of data.artifacts) {
    body.append(el("tr", {},
      el("td", {}, el("a", { href: "/api/artifacts/" + a.sha256, download: a.name }, a.name)),
      el("td", {}, size(a.size)), el("td", {}, a.type), el("td", {}, when(a.shared_at)),
      el("td", { class: "mono" }, a.sha256.slice(0, 16) + "…")));
  }
  if (!data.artifacts.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No artifacts.")));
}

async function loadLeases() {
  const data = await api("/api/leases");
  const body = clear(document.querySelector("#leases tbody"));
  for (const x of data.leases) {
    body.append(el("tr", {}, el("td", { class: "mono" }, x.path),
      el("td", {}, x.name + (x.address ? " (" + x.address + ")" : "")),
      el("td", {}, x.exclusive ? "exclusive" : "shared"), el("td", {}, x.reason || ""),
      el("td", {}, x.expires ? when(x.expires) : "while the session lives")));
  }
  if (!data.leases.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No live leases.")));
}

// --- navigation ----------------------------------------------------------------------------------------------------

const LOADERS = { sessions: loadSessions, feed: async () => {}, inbox: loadInbox, search: async () => {},
  rooms: loadRooms, auto: loadAuto, artifacts: loadArtifacts, leases: loadLeases };

function refreshCurrent() {
  if (state.view === "thread") return;
  const load = LOADERS[state.view];
  if (load) load().catch(e => console.error(e));
}

function route() {
  const hash = location.hash.slice(1) || "sessions";
  const [view, arg] = hash.split("/", 2);
  const name = view === "thread" ? "thread" : (LOADERS[view] ? view : "sessions");
  state.view = name;
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== "view-" + name;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (name === "thread") loadThread(decodeURIComponent(arg || ""));
  else refreshCurrent();
}

async function compose(ev) {
  ev.preventDefault();
  const status = document.getElementById("compose-status");
  const to = document.getElementById("compose-to").value.trim();
  const replyTo = document.getElementById("compose-reply").value.trim();
  const content = document.getElementById("compose-text").value;
  const type = document.getElementById("compose-type").value;
  const button = document.getElementById("compose-send");
  button.disabled = true;
  try {
    const data = replyTo ? await api("/api/reply", { id: replyTo, content })
      : await api("/api/send", { to, type, content });
    const sent = data.messages || [data.message];
    let text = "Sent " + sent.map(m => m.id).join(", ");
    if (data.failed && data.failed.length) text += "; not sent to " + data.failed.map(f => f.name + " (" + f.error + ")").join(", ");
    say(status, text, true);
    document.getElementById("compose-text").value = "";
    document.getElementById("compose-reply").value = "";
  } catch (e) {
    say(status, e.message, false);
  } finally {
    button.disabled = false;
  }
}

function init() {
  window.addEventListener("hashchange", route);
  document.getElementById("compose").addEventListener("submit", compose);
  document.getElementById("search-form").addEventListener("submit", runSearch);
  document.getElementById("release-all").addEventListener("click", () => release(null));
  document.getElementById("show-gone").addEventListener("change", loadSessions);
  connect();
  loadSessions().catch(e => console.error(e));
  loadInboxCount();
  route();
  setInterval(() => { if (state.view === "sessions" || state.view === "auto") refreshCurrent(); }, 5000);
}

init();
