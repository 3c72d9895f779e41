// samizdat web client: plain ES module, no dependencies. Every string from
// the server is rendered with textContent (never parsed as HTML), so a name or a
// message cannot run script.

const $ = (id) => document.getElementById(id);

let csrf = "";
let me = "";
let convs = [];
let current = null; // {name, kind}
let view = "welcome";
let armedDevice = null; // the device whose Remove was clicked once, awaiting the second click

// el builds an element with text content and attributes.
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k.startsWith("aria-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  };
  const r = await fetch(path, opts);
  let data = {};
  try { data = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) throw new Error(data.error || r.statusText);
  if (r.status === 202 && data.error) notice(data.error);
  return data;
}

let noticeTimer = 0;
function notice(text) {
  const n = $("notice");
  n.textContent = text;
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { n.hidden = true; }, 8000);
}

function show(name) {
  view = name;
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== name;
  const app = $("app");
  app.classList.toggle("in-view", name !== "welcome");
  $("back").hidden = name === "welcome";
}

// ---- state ----

async function refresh() {
  let st;
  try {
    st = await api("/api/state");
  } catch (e) {
    notice(e.message);
    return;
  }
  csrf = st.csrf;
  if (st.setup) {
    renderStatus({ line: "not joined yet", state: "setup" });
    $("setup").hidden = false;
    $("app").hidden = true;
    return;
  }
  $("setup").hidden = true;
  $("app").hidden = false;
  me = st.me;
  $("me").textContent = me;
  convs = st.conversations;
  renderStatus(st.status);
  renderConvs();
  renderAlerts();
  if (current) renderConvHead();
}

function renderStatus(s) {
  const p = $("status");
  p.textContent = s.line;
  p.dataset.state = s.state;
}

function convKey(c) { return c.kind + ":" + c.name; }

let drawnConvs = "";

// renderConvs draws the list when it changed (a status update leaves it
// alone), keeping the focus on the conversation that had it.
function renderConvs() {
  const ul = $("convs");
  const key = JSON.stringify([convs, current && convKey(current)]);
  if (key === drawnConvs) return;
  drawnConvs = key;
  const focused = ul.contains(document.activeElement) ? document.activeElement.dataset.kind + ":" + document.activeElement.dataset.name : "";
  const items = convs.map((c) => {
    const b = el("button", { type: "button", "data-name": c.name, "data-kind": c.kind });
    const label = [c.name];
    b.append(el("span", { class: "name", text: c.name }));
    if (c.kind !== "contact") b.append(el("span", { class: "kind", text: c.kind }));
    if (c.changed) {
      b.append(el("span", { class: "flag", text: "⚠", title: "safety number changed" }));
      label.push("safety number changed");
    }
    if (c.unread > 0) {
      b.append(el("span", { class: "badge", text: String(c.unread) }));
      label.push(c.unread + " unread");
    }
    if (c.kind === "request") label.push("message request");
    b.setAttribute("aria-label", label.join(", "));
    if (current && convKey(current) === convKey(c)) b.setAttribute("aria-current", "true");
    b.addEventListener("click", () => openConv(c.name, c.kind));
    return el("li", {}, b);
  });
  ul.replaceChildren(...items);
  if (focused) ul.querySelector(`button[data-kind="${CSS.escape(focused.split(":")[0])}"][data-name="${CSS.escape(focused.slice(focused.indexOf(":") + 1))}"]`)?.focus();
}

// renderAlerts puts every unaccepted identity change at the top of the
// page, where it cannot be missed.
function renderAlerts() {
  const box = $("alerts");
  const changed = convs.filter((c) => c.changed);
  box.replaceChildren(...changed.map((c) => {
    const b = el("button", { type: "button", text: "Check the safety number" });
    b.addEventListener("click", () => openSafety(c.name));
    return el("p", { class: "warning", "data-peer": c.name },
      el("strong", { text: "The safety number with " + c.name + " changed. " }),
      "Compare it with them before you trust new messages.", b);
  }));
}

// ---- conversations ----

async function openConv(name, kind) {
  current = { name, kind };
  $("text").value = "";
  show("conv");
  renderConvs();
  renderConvHead();
  $("messages").replaceChildren();
  await loadHistory();
  $("text").focus();
  await loadVerified();
}

// loadVerified shows whether the user verified the open contact's safety
// number.
async function loadVerified() {
  const want = current;
  const chip = $("conv-verified");
  chip.hidden = true;
  if (!want || !["contact", "request", "blocked"].includes(want.kind)) return;
  try {
    const s = await api("/api/safety?peer=" + encodeURIComponent(want.name));
    if (current === want) chip.hidden = !s.verified;
  } catch { /* not known yet */ }
}

function currentConv() {
  return current && convs.find((c) => convKey(c) === convKey(current));
}

function renderConvHead() {
  const c = currentConv() || current;
  $("conv-title").textContent = c.name;
  const person = c.kind === "contact" || c.kind === "request" || c.kind === "blocked";
  $("safety-btn").hidden = !person;
  $("block-btn").hidden = c.kind !== "contact";
  $("blocked-bar").hidden = c.kind !== "blocked";
  $("blocked-name").textContent = c.name;
  $("members-btn").hidden = c.kind !== "group";
  $("conv-warning").hidden = !c.changed;
  $("conv-warning-name").textContent = c.name;
  $("request-bar").hidden = c.kind !== "request";
  $("request-name").textContent = c.name;
  const canWrite = (c.kind !== "channel" || c.admin) && c.kind !== "blocked";
  $("channel-admin").hidden = !(c.kind === "channel" && c.admin);
  $("composer").hidden = !canWrite;
}

async function loadHistory() {
  if (!current) return;
  const want = current;
  let data;
  try {
    data = await api("/api/history?peer=" + encodeURIComponent(want.name) + "&kind=" + encodeURIComponent(want.kind));
  } catch (e) {
    notice(e.message);
    return;
  }
  if (current !== want) return;
  const ol = $("messages");
  const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
  ol.replaceChildren(...data.messages.map(renderMessage));
  if (atBottom || ol.dataset.peer !== want.name) ol.scrollTop = ol.scrollHeight;
  ol.dataset.peer = want.name;
  const last = data.messages.filter((m) => !m.out).pop();
  if (last && document.visibilityState === "visible") {
    const c = currentConv();
    await api("/api/read", { kind: want.kind, name: want.name, id: last.id });
    if (c && c.unread) { c.unread = 0; renderConvs(); }
  }
}

const ticks = { queued: "…", sent: "✓", delivered: "✓✓" };
const tickLabels = { queued: "waiting to go out", sent: "stored at the relay", delivered: "delivered" };

function renderMessage(m) {
  const time = new Date(m.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (m.status === "notice") {
    return el("li", { class: "notice", "data-id": String(m.id) }, el("span", { class: "body", text: m.body }));
  }
  const li = el("li", { class: m.out ? "out" : "in", "data-id": String(m.id), "data-status": m.status });
  if (!m.out && current && current.kind === "group") li.append(el("span", { class: "from", text: m.from }));
  li.append(el("span", { class: "body", text: m.body }));
  if (m.file && current) {
    const q = "kind=" + encodeURIComponent(current.kind) + "&peer=" + encodeURIComponent(current.name) + "&id=" + m.id;
    li.append(el("a", { class: "file", href: "/api/file?" + q, download: "", text: "Download" }));
  }
  const meta = el("span", { class: "meta", text: time });
  if (m.out) {
    meta.append(" ", el("span", { class: "tick", text: ticks[m.status] || "", title: tickLabels[m.status] || "", "aria-label": tickLabels[m.status] || "" }));
  }
  li.append(meta);
  li.setAttribute("aria-label", (m.out ? "you" : m.from) + ", " + time);
  return li;
}

async function send(ev) {
  ev.preventDefault();
  const ta = $("text");
  const text = ta.value;
  if (!text.trim() || !current) return;
  ta.value = "";
  const btn = $("send");
  btn.disabled = true;
  try {
    await api("/api/send", { to: current.name, kind: current.kind, text });
  } catch (e) {
    ta.value = text;
    notice("Not sent: " + e.message);
  } finally {
    btn.disabled = false;
    ta.focus();
  }
  await loadHistory();
  await refresh();
}

// sendFile uploads the picked file to the local server, which sends it;
// its progress comes as "progress" updates.
async function sendFile() {
  const input = $("file");
  const f = input.files[0];
  input.value = "";
  if (!f || !current) return;
  const q = "to=" + encodeURIComponent(current.name) + "&kind=" + encodeURIComponent(current.kind) + "&name=" + encodeURIComponent(f.name);
  showUpload(f.name, 0, f.size);
  try {
    const r = await fetch("/api/file?" + q, { method: "POST", headers: { "Content-Type": "application/octet-stream", "X-CSRF-Token": csrf }, body: f });
    if (!r.ok) {
      let data = {};
      try { data = await r.json(); } catch { /* not JSON */ }
      throw new Error(data.error || r.statusText);
    }
  } catch (e) {
    notice("File not sent: " + e.message);
  } finally {
    $("upload").hidden = true;
  }
  await loadHistory();
}

function showUpload(name, done, total) {
  $("upload").hidden = false;
  $("upload-name").textContent = name;
  const p = $("upload-progress");
  p.max = total || 1;
  p.value = done;
  p.setAttribute("aria-label", "sending " + name);
}

// ---- safety numbers ----

async function openSafety(name) {
  if (!current || current.name !== name) {
    const c = convs.find((x) => x.name === name && ["contact", "request", "blocked"].includes(x.kind));
    current = { name, kind: c ? c.kind : "contact" };
  }
  show("safety");
  $("safety-peer").textContent = name;
  $("safety-peer2").textContent = name;
  $("safety-number").textContent = "";
  $("safety-verified").hidden = true;
  try {
    const s = await api("/api/safety?peer=" + encodeURIComponent(name));
    $("safety-number").textContent = s.number;
    $("safety-verified").hidden = !s.verified;
    $("verify-btn").hidden = s.verified;
    $("safety-qr").src = "/api/safety/qr?peer=" + encodeURIComponent(name);
    const ch = $("safety-changed");
    ch.hidden = !s.changedAt;
    if (s.changedAt) ch.textContent = "This number changed on " + new Date(s.changedAt).toLocaleString() + ". Compare it before you mark it as verified.";
  } catch (e) {
    notice(e.message);
  }
  $("verify-btn").focus();
}

async function verify() {
  try {
    await api("/api/verify", { peer: current.name, number: $("safety-number").textContent });
    $("safety-verified").hidden = false;
    $("safety-changed").hidden = true;
    $("verify-btn").hidden = true;
  } catch (e) {
    notice(e.message);
  }
  await refresh();
}

// ---- requests, groups, channels ----

async function answerRequest(action) {
  try {
    await api("/api/request", { name: current.name, action });
  } catch (e) {
    notice(e.message);
  }
  await refresh();
  const c = convs.find((x) => x.name === current.name && ["contact", "request", "blocked"].includes(x.kind));
  if (c) current.kind = c.kind;
  renderConvs();
  renderConvHead();
}

async function openMembers() {
  show("members");
  $("members-group").textContent = current.name;
  try {
    const g = await api("/api/group?name=" + encodeURIComponent(current.name));
    const admin = g.members.some((m) => m.name === me && m.admin);
    $("members-rename").hidden = !admin;
    const change = (label, text, cls, body) => {
      const b = el("button", { type: "button", class: cls, text, "aria-label": label });
      b.addEventListener("click", async () => {
        try {
          await api("/api/group", { name: current.name, members: body.members, action: body.action });
        } catch (e) { notice(e.message); }
        await openMembers();
      });
      return b;
    };
    $("members-list").replaceChildren(...g.members.map((m) => {
      const li = el("li", { "data-name": m.name }, el("span", { text: m.name + (m.admin ? " (admin)" : "") }));
      if (admin && m.name !== me) {
        if (!m.admin) li.append(" ", change("Make " + m.name + " an admin of the group", "Make admin", "", { action: "admin", members: [m.name] }));
        li.append(" ", change("Remove " + m.name + " from the group", "Remove", "danger", { action: "remove", members: [m.name] }));
      }
      return li;
    }));
  } catch (e) {
    notice(e.message);
  }
}

function names(s) {
  return s.split(/[\s,]+/).filter(Boolean);
}

async function submitForm(ev, fn) {
  ev.preventDefault();
  const btns = ev.target.querySelectorAll("button");
  btns.forEach((b) => { b.disabled = true; });
  try {
    await fn();
  } catch (e) {
    notice(e.message);
  } finally {
    btns.forEach((b) => { b.disabled = false; });
  }
}

// ---- devices and network ----

async function openDevices() {
  show("devices");
  const ul = $("devices-list");
  ul.replaceChildren(el("li", { text: "asking the relay…" }));
  try {
    const d = await api("/api/devices");
    ul.replaceChildren(...d.devices.map((x) => {
      const li = el("li", { "data-id": String(x.id) }, el("span", {
        text: "device " + x.id + (x.name ? " “" + x.name + "”" : "") + (x.current ? " (this one)" : "") +
          ", added " + new Date(x.created).toLocaleDateString() +
          (x.lastSeen ? ", last seen " + new Date(x.lastSeen).toLocaleDateString() : ""),
      }));
      if (!x.current) {
        const armedText = "Remove for good: it loses your account";
        const b = el("button", { type: "button", class: "danger", text: armedDevice === x.id ? armedText : "Remove", "aria-label": "Remove device " + x.id });
        b.addEventListener("click", async () => {
          // A second click confirms; the first is remembered across a
          // redraw of the list (a live update may redraw it in between).
          if (armedDevice !== x.id) {
            armedDevice = x.id;
            b.textContent = armedText;
            return;
          }
          armedDevice = null;
          try {
            await api("/api/devices", { action: "remove", id: x.id });
          } catch (e) { notice(e.message); }
          await openDevices();
        });
        li.append(" ", b);
      }
      return li;
    }));
  } catch (e) {
    ul.replaceChildren(el("li", { text: "could not list the devices: " + e.message }));
  }
}

async function openNetwork() {
  show("network");
  try {
    const n = await api("/api/network");
    $("network-status").textContent = n.status.line;
    $("paths").replaceChildren(...n.paths.map((p) => el("tr", {},
      el("td", { text: new Date(p.at).toLocaleTimeString() }),
      el("td", { text: p.kind, class: p.kind === "failure" || p.kind === "dropped" ? "bad" : "" }),
      el("td", { text: p.endpoint || "" }),
      el("td", { text: [p.class, p.ms ? (p.ms / 1000).toFixed(1) + " s" : "", p.error].filter(Boolean).join(" · ") }),
    )));
  } catch (e) {
    notice(e.message);
  }
}

// ---- first run ----

async function setup(ev) {
  ev.preventDefault();
  const err = $("setup-error");
  err.textContent = "";
  let invite = $("setup-text").value;
  const f = $("setup-file").files[0];
  if (f) invite = await f.text();
  if (!invite.trim()) {
    err.textContent = "Give the invite: pick its file or paste its text.";
    return;
  }
  $("setup-submit").disabled = true;
  err.textContent = "";
  try {
    await api("/api/setup", { name: $("setup-name").value, device: $("setup-device").value, invite });
    await refresh();
    $("new-name").focus();
  } catch (e) {
    err.textContent = e.message;
  } finally {
    $("setup-submit").disabled = false;
  }
}

// ---- live updates ----

let pending = 0;
function listen() {
  const es = new EventSource("/api/events");
  es.onmessage = (m) => {
    const u = JSON.parse(m.data);
    if (u.kind === "progress") {
      if (current && current.name === u.peer) showUpload(u.text, u.done, u.total);
      return;
    }
    if (u.kind === "notice" || u.kind === "failed") notice(u.text);
    if (u.kind === "devices" && view === "devices") openDevices();
    if (u.kind === "identity" && view === "conv" && current && current.name === u.peer) loadVerified();
    // Coalesce bursts (a backlog) into one refresh.
    clearTimeout(pending);
    pending = setTimeout(async () => {
      await refresh();
      if (view === "conv") await loadHistory();
      if (view === "network") await openNetwork();
    }, 50);
  };
  es.onopen = () => refresh();
}

// ---- wiring ----

function init() {
  $("setup-form").addEventListener("submit", setup);
  $("composer").addEventListener("submit", send);
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) $("composer").requestSubmit();
  });
  $("new-chat").addEventListener("submit", (ev) => submitForm(ev, async () => {
    const r = await api("/api/contact", { name: $("new-name").value });
    $("new-name").value = "";
    await refresh();
    await openConv(r.name, (convs.find((c) => c.name === r.name) || { kind: "contact" }).kind);
  }));
  $("safety-btn").addEventListener("click", () => openSafety(current.name));
  $("conv-warning-check").addEventListener("click", () => openSafety(current.name));
  $("verify-btn").addEventListener("click", verify);
  $("safety-close").addEventListener("click", () => openConv(current.name, current.kind));
  $("request-accept").addEventListener("click", () => answerRequest("accept"));
  $("request-block").addEventListener("click", () => answerRequest("block"));
  $("block-btn").addEventListener("click", () => answerRequest("block"));
  $("unblock-btn").addEventListener("click", () => answerRequest("unblock"));
  $("members-btn").addEventListener("click", openMembers);
  $("members-add").addEventListener("submit", (ev) => submitForm(ev, async () => {
    await api("/api/group", { action: "add", name: current.name, members: names($("members-add-name").value) });
    $("members-add-name").value = "";
    await openMembers();
  }));
  $("members-rename").addEventListener("submit", (ev) => submitForm(ev, async () => {
    const newName = $("members-rename-name").value;
    await api("/api/group", { action: "rename", name: current.name, newName });
    $("members-rename-name").value = "";
    current = { name: newName.toLowerCase(), kind: "group" };
    await refresh();
    await openMembers();
  }));
  $("channel-admin").addEventListener("submit", (ev) => submitForm(ev, async () => {
    await api("/api/channel", { action: "admin", name: current.name, user: $("channel-admin-name").value });
    notice($("channel-admin-name").value + " is now an admin of " + current.name);
    $("channel-admin-name").value = "";
  }));
  $("group-leave").addEventListener("click", async () => {
    try {
      await api("/api/group", { action: "leave", name: current.name });
    } catch (e) { notice(e.message); }
    await refresh();
    show("welcome");
  });
  $("group-create").addEventListener("submit", (ev) => submitForm(ev, async () => {
    const name = $("group-name").value;
    await api("/api/group", { action: "create", name, members: names($("group-members").value) });
    $("group-name").value = "";
    $("group-members").value = "";
    await refresh();
    await openConv(name.toLowerCase(), "group");
  }));
  $("channel-create").addEventListener("submit", (ev) => submitForm(ev, async () => {
    const r = await api("/api/channel", { action: "create", name: $("channel-name").value });
    const p = $("channel-code");
    p.textContent = "Join code (give it to your subscribers): " + r.code;
    p.dataset.code = r.code;
    p.hidden = false;
    await refresh();
  }));
  $("channel-join").addEventListener("submit", (ev) => submitForm(ev, async () => {
    const r = await api("/api/channel", { action: "join", code: $("channel-join-code").value, name: $("channel-join-name").value });
    $("channel-join-code").value = "";
    await refresh();
    await openConv(r.name, "channel");
  }));
  $("show-groups").addEventListener("click", () => show("groups"));
  $("show-devices").addEventListener("click", () => { armedDevice = null; openDevices(); });
  $("file").addEventListener("change", sendFile);
  $("approve-form").addEventListener("submit", (ev) => submitForm(ev, async () => {
    const r = await api("/api/devices", { action: "approve", code: $("approve-code").value });
    $("approve-code").value = "";
    notice("Device " + r.id + " is linked.");
    await openDevices();
  }));
  $("show-network").addEventListener("click", openNetwork);
  $("back").addEventListener("click", () => { current = null; renderConvs(); show("welcome"); });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && view !== "welcome" && document.activeElement?.id !== "text") $("back").click();
  });
  document.addEventListener("visibilitychange", () => { if (view === "conv") loadHistory(); });
  refresh().then(() => {
    performance.mark("samizdat-ready"); // the first screen is drawn (measured by the browser tests)
    listen();
  });
}

init();
