// The room's DOM: it renders what the controller (main.js) tells it and reports what the
// person asks for as events. It knows nothing of Socket.IO or WebRTC.
//
// Everything people typed (names, chat, reasons) goes into the page with textContent, never
// as HTML.
//
// Intents (CustomEvent, data in `detail`): join · device {kind, deviceId} · audio-only-choice {on}
//   mic · camera · audio-only · leave · admit {pid|null} · deny {pid} · ask-mute {pid} · remove {pid}
//   chat-send {text, to} · chat-retry {clientId} · sound · rejoin · take-over
//   record (start or stop, the mediator) · consent {consent: true|false} · consent-dismissed
//   consent-open (show the prompt again)

import { t } from "../i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const TOAST_MS = 6000;

export function roleLabel(role) {
  switch (role) {
    case "mediator": return t("Mediator");
    case "applicant": return t("Applicant");
    case "respondent": return t("Respondent");
    case "agent": return t("Agent");
    case "expert": return t("Expert");
    case "observer": return t("Observer");
    default: return role || "";
  }
}

export function qualityLabel(quality) {
  switch (quality) {
    case "good": return t("Connection good");
    case "fair": return t("Connection fair");
    case "poor": return t("Connection poor");
    case "lost": return t("Connection lost");
    default: return t("Connecting…");
  }
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

/** replaceChildren() that skips null (the DOM would insert the text "null"). */
function fill(node, ...children) {
  node.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
}

/** Whether a list item already shows this data (and remember it for next time). */
function unchanged(node, data) {
  const sig = JSON.stringify(data);
  if (node.dataset.sig === sig) return true;
  node.dataset.sig = sig;
  return false;
}

function icon(name, cls = "icon") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", cls);
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `#${name}`);
  svg.append(use);
  return svg;
}

function setIcon(button, name) {
  const use = button.querySelector("use");
  if (use) use.setAttribute("href", `#${name}`);
}

function timeOf(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit" });
}

/** Make `list`'s children match `items` in order, reusing children with the same key. */
function reconcile(list, items, key, create, update) {
  const existing = new Map([...list.children].map((child) => [child.dataset.key, child]));
  let cursor = list.firstElementChild;
  for (const item of items) {
    const k = key(item);
    let node = existing.get(k);
    if (node) existing.delete(k);
    else {
      node = create(item);
      node.dataset.key = k;
    }
    update(node, item);
    if (node !== cursor) list.insertBefore(node, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const node of existing.values()) node.remove();
}

export class RoomView extends EventTarget {
  constructor(root) {
    super();
    this.root = root;
    this.screen = null;
    this.tiles = new Map(); // pid -> {node, video, …}
    this.chatNodes = new Map(); // message id -> li
    this.pendingNodes = new Map(); // client id -> li
    this.unread = 0;
    this.panelOpen = window.matchMedia("(min-width: 960px)").matches;
    this.tab = "chat";
    this.bind();
    this.applyPanel();
  }

  $(id) {
    return document.getElementById(id);
  }

  intent(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  on(id, event, fn) {
    const node = this.$(id);
    if (node) node.addEventListener(event, fn);
  }

  bind() {
    this.on("join-button", "click", () => this.intent("join"));
    this.on("camera-select", "change", (e) => this.intent("device", { kind: "video", deviceId: e.target.value }));
    this.on("mic-select", "change", (e) => this.intent("device", { kind: "audio", deviceId: e.target.value }));
    this.on("audio-only-choice", "change", (e) => this.intent("audio-only-choice", { on: e.target.checked }));
    this.on("lobby-leave", "click", () => this.intent("leave"));
    this.on("mic-button", "click", () => this.intent("mic"));
    this.on("camera-button", "click", () => this.intent("camera"));
    this.on("audio-only-button", "click", () => this.intent("audio-only"));
    this.on("leave-button", "click", () => this.intent("leave"));
    this.on("chat-button", "click", () => this.togglePanel("chat"));
    this.on("people-button", "click", () => this.togglePanel("people"));
    this.on("panel-close", "click", () => this.closePanel());
    this.on("tab-chat", "click", () => this.selectTab("chat"));
    this.on("tab-people", "click", () => this.selectTab("people"));
    for (const id of ["tab-chat", "tab-people"]) {
      this.on(id, "keydown", (e) => {
        if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
          this.selectTab(this.tab === "chat" ? "people" : "chat");
          this.$(`tab-${this.tab}`).focus();
          e.preventDefault();
        }
      });
    }
    this.on("admit-all", "click", () => this.intent("admit", { pid: null }));
    this.on("sound-button", "click", () => this.intent("sound"));
    this.on("rejoin-button", "click", () => this.intent("rejoin"));
    this.on("take-over-button", "click", () => this.intent("take-over"));
    this.on("record-button", "click", () => this.intent("record"));
    this.on("rec-alert-close", "click", () => this.setRecordingAlert(null));
    this.on("rec-change", "click", (e) => {
      const action = e.currentTarget.dataset.action;
      if (action === "answer") this.intent("consent-open");
      else this.intent("consent", { consent: action === "grant" });
    });
    // The prompt: Agree or Refuse answers; Escape closes it unanswered (the bar offers it again).
    const consent = this.$("consent-dialog");
    if (consent) {
      consent.addEventListener("close", () => {
        const answer = consent.returnValue;
        if (answer === "agree" || answer === "refuse") this.intent("consent", { consent: answer === "agree" });
        else if (this.consentShown) this.intent("consent-dismissed");
        this.consentShown = false;
      });
    }
    this.on("chat-form", "submit", (e) => {
      e.preventDefault();
      this.submitChat();
    });
    this.on("chat-text", "keydown", (e) => {
      // Enter sends, Shift+Enter starts a new line (not while an input method is composing).
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submitChat();
      }
    });
    const log = this.$("chat-log");
    if (log) log.addEventListener("click", (e) => {
      const button = e.target.closest("button[data-retry]");
      if (button) this.intent("chat-retry", { clientId: button.dataset.retry });
    });
    // The dialog: Cancel closes it; Enter in the reason field confirms (not the form's first button).
    this.on("dialog-cancel", "click", () => this.$("dialog").close("cancel"));
    this.on("dialog-reason", "keydown", (e) => {
      if (e.key === "Enter" && !e.isComposing) {
        e.preventDefault();
        this.$("dialog").close("ok");
      }
    });
    window.matchMedia("(min-width: 960px)").addEventListener("change", (e) => {
      this.panelOpen = e.matches;
      this.applyPanel();
    });
  }

  show(screen) {
    if (this.screen === screen) return;
    const hadFocus = document.activeElement && this.root.contains(document.activeElement);
    this.screen = screen;
    for (const name of ["prejoin", "lobby", "stage", "ended"]) this.$(name).hidden = name !== screen;
    document.body.dataset.screen = screen;
    if (!hadFocus) return;
    // The button pressed has gone with its screen: put keyboard focus somewhere sensible.
    const target = { lobby: "lobby-h", stage: "mic-button", ended: "ended-title" }[screen];
    const node = target && (this.$(target) || this.$("audio-only-button"));
    if (node) {
      if (!node.matches("button")) node.tabIndex = -1;
      node.focus();
    }
  }

  // ---- prejoin ------------------------------------------------------------------------------

  /** The preview before joining (and in the lobby). `problem`: the camera is not available. */
  setPreview(stream, { hasVideo, hasAudio, problem }) {
    for (const id of ["preview-video", "lobby-video"]) {
      const video = this.$(id);
      if (!video) continue;
      if (video.srcObject !== stream) video.srcObject = stream;
      video.hidden = !hasVideo;
    }
    const off = this.$("preview-off");
    if (off) {
      off.hidden = hasVideo;
      off.textContent = problem ? t("No camera picture") : t("Camera off");
      // Without a picture the big dark box only pushes the join button off a phone's screen.
      off.parentElement.classList.toggle("no-camera", !hasVideo);
    }
    const level = this.$("mic-level");
    if (level) {
      level.hidden = !hasAudio;
      level.nextElementSibling.hidden = !hasAudio;
    }
  }

  /** Device choices; a kind whose problem no other device can solve (refused, none) has none. */
  setDevices(devices, selected, problems = {}) {
    const useless = (kind) => ["denied", "missing", "unsupported"].includes(problems[kind]);
    const fill = (id, list, chosen, none, unnamed) => {
      const select = this.$(id);
      if (!select) return;
      const kind = id === "camera-select" ? "video" : "audio";
      select.parentElement.hidden = useless(kind);
      select.replaceChildren();
      if (!list.length) select.append(el("option", { value: "", text: none }));
      list.forEach((d, i) => select.append(el("option", { value: d.deviceId, text: d.label || unnamed(i + 1) })));
      select.value = chosen && list.some((d) => d.deviceId === chosen) ? chosen : (list[0] ? list[0].deviceId : "");
      select.disabled = !list.length;
    };
    fill("camera-select", devices.video, selected.video, t("No camera"), (n) => t("Camera %(number)s", { number: n }));
    fill("mic-select", devices.audio, selected.audio, t("No microphone"), (n) => t("Microphone %(number)s", { number: n }));
    const box = this.$("camera-select") && this.$("camera-select").closest(".devices");
    if (box) box.hidden = useless("audio") && useless("video");
  }

  setProblem(text) {
    const box = this.$("media-problem");
    box.textContent = text || "";
    box.hidden = !text;
  }

  setMeter(level) {
    const bar = this.$("mic-meter-bar");
    if (bar) bar.style.transform = `scaleX(${Math.max(0, Math.min(1, level)).toFixed(3)})`;
  }

  setJoinEnabled(on) {
    this.$("join-button").disabled = !on;
  }

  setJoinStatus(text) {
    this.$("join-status").textContent = text || "";
  }

  get audioOnlyChoice() {
    return this.$("audio-only-choice").checked;
  }

  set audioOnlyChoice(on) {
    this.$("audio-only-choice").checked = on;
  }

  // ---- lobby --------------------------------------------------------------------------------

  setLobbyReason(reason) {
    this.$("lobby-reason").textContent = reason === "waiting_for_mediator"
      ? t("The mediator has not arrived yet. You will be let in when the mediator admits you.")
      : t("The mediator knows you are here and will let you in shortly.");
  }

  // ---- banners and notices ------------------------------------------------------------------

  setConnection(text) {
    const banner = this.$("conn-banner");
    banner.textContent = text || "";
    banner.hidden = !text;
  }

  setSoundBlocked(on) {
    this.$("sound-banner").hidden = !on;
  }

  toast(text) {
    const box = this.$("toasts");
    const item = el("p", { class: "toast", text });
    box.append(item);
    while (box.children.length > 3) box.firstElementChild.remove();
    setTimeout(() => item.remove(), TOAST_MS);
  }

  // ---- controls -----------------------------------------------------------------------------

  setControls({ micOn, hasMic, cameraOn, hasCamera, audioOnly }) {
    const mic = this.$("mic-button");
    if (mic) {
      mic.querySelector(".ctl-label").textContent = micOn ? t("Mute") : t("Unmute");
      setIcon(mic, micOn ? "i-mic" : "i-mic-off");
      mic.classList.toggle("off", !micOn);
      mic.disabled = !hasMic;
    }
    const cam = this.$("camera-button");
    if (cam) {
      cam.querySelector(".ctl-label").textContent = cameraOn ? t("Stop video") : t("Start video");
      setIcon(cam, cameraOn ? "i-cam" : "i-cam-off");
      cam.classList.toggle("off", !cameraOn);
      cam.disabled = audioOnly || !hasCamera;
    }
    const ao = this.$("audio-only-button");
    ao.setAttribute("aria-pressed", String(audioOnly));
    ao.classList.toggle("on", audioOnly);
  }

  // ---- panel (chat and people) --------------------------------------------------------------

  togglePanel(tab) {
    if (this.panelOpen && this.tab === tab) this.closePanel();
    else this.openPanel(tab);
  }

  openPanel(tab) {
    this.panelOpen = true;
    this.selectTab(tab);
    this.applyPanel();
  }

  closePanel() {
    this.panelOpen = false;
    this.applyPanel();
    const button = this.$(`${this.tab}-button`);
    if (button && document.activeElement && this.$("panel").contains(document.activeElement)) button.focus();
  }

  selectTab(tab) {
    this.tab = tab;
    for (const name of ["chat", "people"]) {
      const selected = name === tab;
      this.$(`tab-${name}`).setAttribute("aria-selected", String(selected));
      this.$(`tab-${name}`).tabIndex = selected ? 0 : -1;
      this.$(`panel-${name}`).hidden = !selected;
    }
    this.applyPanel();
  }

  applyPanel() {
    this.$("stage").classList.toggle("panel-open", this.panelOpen);
    for (const name of ["chat", "people"]) {
      const button = this.$(`${name}-button`);
      button.setAttribute("aria-expanded", String(this.panelOpen && this.tab === name));
      button.classList.toggle("on", this.panelOpen && this.tab === name);
    }
    if (this.chatVisible) this.setUnread(0);
  }

  get chatVisible() {
    return this.panelOpen && this.tab === "chat";
  }

  setUnread(n) {
    this.unread = n;
    const badge = this.$("chat-badge");
    badge.textContent = n > 9 ? "9+" : String(n);
    badge.hidden = n === 0;
  }

  setWaitingCount(n) {
    const badge = this.$("people-badge");
    badge.textContent = String(n);
    badge.hidden = n === 0;
  }

  // ---- tiles --------------------------------------------------------------------------------

  /** models: [{pid, name, role, me, videoVisible, micOn, notice, quality, speaking}] */
  renderTiles(models) {
    const grid = this.$("tiles");
    grid.className = `tiles count-${Math.min(models.length, 6)}`;
    reconcile(grid, models, (m) => m.pid, (m) => this.createTile(m), (node, m) => this.updateTile(node, m));
    for (const pid of [...this.tiles.keys()]) if (!models.some((m) => m.pid === pid)) this.tiles.delete(pid);
  }

  createTile(m) {
    const video = el("video", { autoplay: true, playsinline: true });
    video.muted = m.me; // never play one's own voice back
    if (m.me) video.classList.add("mirror");
    const parts = {
      video,
      avatar: el("div", { class: "tile-avatar", "aria-hidden": "true" }),
      notice: el("p", { class: "tile-notice" }),
      name: el("span", { class: "tile-name" }),
      role: el("span", { class: "tile-role" }),
      mic: el("span", { class: "tile-mic" }, icon("i-mic-off"), el("span", { class: "visually-hidden", text: t("Microphone off") })),
      quality: el("span", { class: "quality" }, el("span", { class: "bars", "aria-hidden": "true" },
        el("i"), el("i"), el("i")), el("span", { class: "visually-hidden quality-text" })),
    };
    const node = el("article", { class: "tile", role: "listitem" }, parts.video, parts.avatar, parts.notice,
      el("div", { class: "tile-bar" }, parts.name, parts.role, parts.mic, parts.quality));
    node.dataset.pid = m.pid;
    this.tiles.set(m.pid, { node, ...parts, stream: null });
    return node;
  }

  updateTile(node, m) {
    const tile = this.tiles.get(m.pid);
    node.classList.toggle("me", m.me);
    node.classList.toggle("speaking", Boolean(m.speaking));
    node.classList.toggle("no-video", !m.videoVisible);
    node.classList.toggle("reconnecting", Boolean(m.reconnecting));
    node.setAttribute("aria-label", `${m.name}, ${roleLabel(m.role)}`);
    tile.name.textContent = m.me ? t("%(name)s (you)", { name: m.name }) : m.name;
    tile.role.textContent = roleLabel(m.role);
    tile.avatar.textContent = Array.from(m.name || "?")[0];
    tile.notice.textContent = m.notice || "";
    tile.notice.hidden = !m.notice;
    tile.mic.hidden = m.micOn !== false;
    tile.quality.hidden = m.me || !m.quality;
    if (!m.me && m.quality) {
      tile.quality.className = `quality q-${m.quality}`;
      tile.quality.title = qualityLabel(m.quality);
      tile.quality.querySelector(".quality-text").textContent = qualityLabel(m.quality);
    }
  }

  setTileStream(pid, stream) {
    const tile = this.tiles.get(pid);
    if (!tile || tile.video.srcObject === stream) return;
    tile.video.srcObject = stream;
    this.play(tile.video);
  }

  play(video) {
    if (!video.srcObject) return;
    const p = video.play();
    if (p && p.catch) {
      p.catch((err) => {
        // Autoplay with sound needs a tap after a reload without camera or microphone.
        if (err && err.name === "NotAllowedError") this.intent("autoplay-blocked");
      });
    }
  }

  playAll() {
    for (const tile of this.tiles.values()) this.play(tile.video);
  }

  setSpeaking(pid, on) {
    const tile = this.tiles.get(pid);
    if (tile) tile.node.classList.toggle("speaking", on);
  }

  // ---- people -------------------------------------------------------------------------------

  /** people: [{pid, name, role, me, state, quality, micOn}]; waiting: [{pid, name, role}] */
  renderPeople(people, waiting, { moderator }) {
    this.$("roster-h").textContent = t("In the session (%(num)s)", { num: people.length });
    reconcile(this.$("roster"), people, (p) => p.pid, () => el("li", { class: "person" }), (li, p) => {
      if (unchanged(li, p)) return; // keeps keyboard focus on a button that stays
      const status = [];
      if (p.reconnecting) status.push(t("Reconnecting…"));
      else if (!p.me && p.quality) status.push(qualityLabel(p.quality));
      if (p.micOn === false) status.push(t("Microphone off"));
      if (p.audioOnly) status.push(t("Audio only"));
      const actions = moderator && !p.me ? el("div", { class: "person-actions" },
        p.canPublish ? el("button", { type: "button", class: "small-button", onclick: () => this.intent("ask-mute", { pid: p.pid }),
          text: t("Ask to mute"), "aria-label": t("Ask %(name)s to mute", { name: p.name }) }) : null,
        el("button", { type: "button", class: "small-button danger", onclick: () => this.intent("remove", { pid: p.pid }),
          text: t("Remove"), "aria-label": t("Remove %(name)s", { name: p.name }) })) : null;
      fill(li,
        el("div", { class: "person-main" },
          el("span", { class: "person-name", text: p.me ? t("%(name)s (you)", { name: p.name }) : p.name }),
          el("span", { class: "badge", text: roleLabel(p.role) })),
        status.length ? el("p", { class: "person-status", text: status.join(" · ") }) : null,
        actions);
    });
    const section = this.$("waiting-section");
    if (!section) return;
    section.hidden = !moderator || !waiting.length;
    this.$("waiting-h").textContent = t("Waiting to join (%(num)s)", { num: waiting.length });
    const notice = this.$("lobby-notice");
    notice.hidden = !waiting.length;
    this.$("lobby-notice-h").textContent = waiting.length === 1
      ? t("%(name)s is waiting to join", { name: waiting[0].name })
      : t("%(num)s people are waiting to join", { num: waiting.length });
    this.$("admit-all").hidden = waiting.length < 2;
    for (const id of ["waiting-list", "lobby-notice-list"]) {
      reconcile(this.$(id), waiting, (p) => p.pid, () => el("li", { class: "waiting" }), (li, p) => {
        if (unchanged(li, p)) return;
        fill(li,
          el("span", { class: "person-main" }, el("span", { class: "person-name", text: p.name }),
            el("span", { class: "badge", text: roleLabel(p.role) })),
          el("span", { class: "waiting-actions" },
            el("button", { type: "button", class: "primary small-button", onclick: () => this.intent("admit", { pid: p.pid }),
              text: t("Admit"), "aria-label": t("Admit %(name)s", { name: p.name }) }),
            el("button", { type: "button", class: "danger small-button", onclick: () => this.intent("deny", { pid: p.pid }),
              text: t("Deny"), "aria-label": t("Deny %(name)s", { name: p.name }) })));
      });
    }
  }

  // ---- chat ---------------------------------------------------------------------------------

  setChatTargets(targets) {
    const select = this.$("chat-to");
    if (!select) return;
    // Rebuilt only when the list changes: a render must not close the list someone has open.
    const key = JSON.stringify(targets);
    if (key === this.chatTargetsKey) return;
    this.chatTargetsKey = key;
    const current = select.value;
    select.replaceChildren(el("option", { value: "", text: t("Everyone") }),
      ...targets.map((x) => el("option", { value: x.pid, text: t("Only %(name)s (private)", { name: x.name }) })));
    select.value = targets.some((x) => x.pid === current) ? current : "";
  }

  submitChat() {
    const box = this.$("chat-text");
    const text = box.value.trim();
    if (!text) return;
    this.intent("chat-send", { text, to: this.$("chat-to").value || null });
    box.value = "";
    box.focus();
  }

  nearBottom(log) {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }

  /** messages: the whole list, oldest first; new ones are added, none re-rendered. */
  renderChat(messages, { myPid, nameOf }) {
    const log = this.$("chat-log");
    const stick = this.nearBottom(log);
    let fresh = 0;
    let before = null;
    for (let i = messages.length - 1; i >= 0; i--) {
      const m = messages[i];
      let li = this.chatNodes.get(m.id);
      if (!li) {
        li = this.messageNode(m, myPid, nameOf);
        this.chatNodes.set(m.id, li);
        log.insertBefore(li, before || this.firstPending());
        const pending = this.pendingNodes.get(m.client_id);
        if (pending && m.from.pid === myPid) {
          pending.remove();
          this.pendingNodes.delete(m.client_id);
        } else if (m.from.pid !== myPid) {
          fresh += 1;
        }
      }
      before = li;
    }
    this.$("chat-empty").hidden = log.children.length > 0;
    if (fresh && !this.chatVisible) this.setUnread(this.unread + fresh);
    if (stick || !fresh) log.scrollTop = log.scrollHeight;
  }

  firstPending() {
    return this.$("chat-log").querySelector("li.pending");
  }

  messageNode(m, myPid, nameOf) {
    const mine = m.from.pid === myPid;
    let privacy = null;
    if (m.to) {
      privacy = mine ? t("Private, to %(name)s", { name: nameOf(m.to) }) : t("Private, to you");
    }
    return el("li", { class: `msg${mine ? " mine" : ""}${m.to ? " private" : ""}` },
      el("p", { class: "msg-head" },
        el("span", { class: "msg-from", text: mine ? t("You") : m.from.name }),
        mine ? null : el("span", { class: "msg-role", text: roleLabel(m.from.role) }),
        privacy ? el("span", { class: "msg-private", text: privacy }) : null,
        el("time", { datetime: m.at, text: timeOf(m.at) })),
      el("p", { class: "msg-text", text: m.text }));
  }

  addPending({ clientId, text, to, toName }) {
    let li = this.pendingNodes.get(clientId);
    if (!li) {
      li = el("li", { class: `msg mine pending${to ? " private" : ""}` });
      this.pendingNodes.set(clientId, li);
      this.$("chat-log").append(li);
    }
    fill(li,
      el("p", { class: "msg-head" }, el("span", { class: "msg-from", text: t("You") }),
        to ? el("span", { class: "msg-private", text: t("Private, to %(name)s", { name: toName }) }) : null,
        el("span", { class: "msg-sending", text: t("Sending…") })),
      el("p", { class: "msg-text", text }));
    this.$("chat-empty").hidden = true;
    const log = this.$("chat-log");
    log.scrollTop = log.scrollHeight;
  }

  failPending(clientId) {
    const li = this.pendingNodes.get(clientId);
    if (!li) return;
    li.classList.add("failed");
    const head = li.querySelector(".msg-sending");
    if (head) head.textContent = t("Not sent.");
    if (!li.querySelector("button[data-retry]")) {
      li.append(el("button", { type: "button", class: "small-button", dataset: { retry: clientId }, text: t("Send again") }));
    }
  }

  // ---- recording ----------------------------------------------------------------------------

  /** The mediator's start/stop button: `state` off | waiting_for_consent | on; `busy` while a request runs. */
  setRecordButton({ state, busy }) {
    const button = this.$("record-button");
    if (!button) return;
    const running = state !== "off";
    button.querySelector(".ctl-label").textContent = running ? t("Stop recording") : t("Record");
    setIcon(button, running ? "i-rec-stop" : "i-rec");
    button.classList.toggle("recording", state === "on");
    // Not `disabled`: that would take keyboard focus off the button for the moment of the request
    // (the controller ignores presses meanwhile).
    button.setAttribute("aria-busy", String(Boolean(busy)));
  }

  /**
   * The recording bar everyone sees. model: null (nothing to show) or
   * {on, text, self, change: null | "withdraw" | "grant" | "answer"}.
   */
  setRecordingBar(model) {
    const bar = this.$("rec-bar");
    bar.hidden = !model;
    if (!model) return;
    bar.classList.toggle("on", Boolean(model.on));
    this.$("rec-text").textContent = model.text;
    const self = this.$("rec-self");
    self.textContent = model.self || "";
    self.hidden = !model.self;
    const change = this.$("rec-change");
    if (!change) return;
    change.hidden = !model.change;
    if (!model.change || change.dataset.action === model.change) return; // keeps focus on the button
    change.dataset.action = model.change;
    change.textContent = {
      withdraw: t("Stop recording me"), grant: t("Allow recording me"), answer: t("Answer the recording request"),
    }[model.change];
  }

  /** The mediator's view of the answers: names still to answer, names that refused. */
  setRecordingConsents({ visible, pending, refused }) {
    const box = this.$("rec-consents");
    if (!box) return;
    box.hidden = !visible || (!pending.length && !refused.length);
    const show = (id, names, text) => {
      const node = this.$(id);
      node.hidden = !names.length;
      node.textContent = names.length ? text(names.join(t(", "))) : "";
    };
    show("rec-pending", pending, (names) => t("Not answered yet: %(names)s", { names }));
    show("rec-refused", refused, (names) => t("Refused, not recorded: %(names)s", { names }));
  }

  setRecordingAlert(text) {
    const box = this.$("rec-alert");
    if (!box) return;
    this.$("rec-alert-text").textContent = text || "";
    box.hidden = !text;
  }

  get consentOpen() {
    const dialog = this.$("consent-dialog");
    return Boolean(dialog && dialog.open);
  }

  /** Show or hide the consent prompt (a modal dialog: it has the keyboard until answered or closed). */
  showConsent(on) {
    const dialog = this.$("consent-dialog");
    if (!dialog || dialog.open === on) return;
    if (on) {
      dialog.returnValue = "";
      this.consentShown = true;
      dialog.showModal();
      // Focus on the question, not on either answer: Enter must not answer for the person.
      const title = this.$("consent-title");
      title.tabIndex = -1;
      title.focus();
    } else {
      this.consentShown = false;
      dialog.close("");
    }
  }

  // ---- the end ------------------------------------------------------------------------------

  showEnded({ title, text, reason = "", rejoin = false, takeOver = false }) {
    this.$("ended-title").textContent = title;
    this.$("ended-text").textContent = text || "";
    this.$("ended-reason").textContent = reason ? t("Reason: %(reason)s", { reason }) : "";
    this.$("ended-reason").hidden = !reason;
    this.$("rejoin-button").hidden = !rejoin;
    this.$("take-over-button").hidden = !takeOver;
    for (const tile of this.tiles.values()) tile.video.srcObject = null;
    this.show("ended");
  }

  // ---- dialog -------------------------------------------------------------------------------

  /** Ask for confirmation. Resolves to {action: "ok" | "extra" | "cancel", reason}. */
  confirm({ title, text, ok, extra = null, reason = false, danger = false }) {
    const dialog = this.$("dialog");
    this.$("dialog-title").textContent = title;
    this.$("dialog-text").textContent = text || "";
    this.$("dialog-ok").textContent = ok;
    this.$("dialog-ok").classList.toggle("danger", danger);
    const extraButton = this.$("dialog-extra");
    extraButton.hidden = !extra;
    extraButton.textContent = extra || "";
    this.$("dialog-reason-label").hidden = !reason;
    this.$("dialog-reason").value = "";
    dialog.returnValue = "cancel";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        resolve({ action: dialog.returnValue || "cancel", reason: this.$("dialog-reason").value.trim() });
      }, { once: true });
      dialog.showModal();
      (reason ? this.$("dialog-reason") : this.$("dialog-cancel")).focus();
    });
  }
}
