// The room's media on the page: the preview and device choices before joining, the microphone
// meter, the call controls, and the video tiles with who is speaking. It draws what the media
// controller (controllers/media.js) tells it and reports what the person asks for.
//
// Intents: device {kind, deviceId} · audio-only-choice {on} · mic · camera · audio-only · sound
//   autoplay-blocked (a tile could not play with sound until the person taps)

import { t } from "../../i18n.js";
import { $, el, icon, listen, qualityLabel, reconcile, roleLabel, setIcon } from "./dom.js";

export class MediaView {
  constructor({ intent }) {
    this.intent = intent;
    this.tiles = new Map(); // pid -> {node, video, …}
    listen("camera-select", "change", (e) => this.intent("device", { kind: "video", deviceId: e.target.value }));
    listen("mic-select", "change", (e) => this.intent("device", { kind: "audio", deviceId: e.target.value }));
    listen("audio-only-choice", "change", (e) => this.intent("audio-only-choice", { on: e.target.checked }));
    listen("mic-button", "click", () => this.intent("mic"));
    listen("camera-button", "click", () => this.intent("camera"));
    listen("audio-only-button", "click", () => this.intent("audio-only"));
    listen("sound-button", "click", () => this.intent("sound"));
  }

  // ---- before joining -----------------------------------------------------------------------

  /** The preview before joining (and in the lobby). `problem`: the camera is not available. */
  setPreview(stream, { hasVideo, hasAudio, problem }) {
    for (const id of ["preview-video", "lobby-video"]) {
      const video = $(id);
      if (!video) continue;
      if (video.srcObject !== stream) video.srcObject = stream;
      video.hidden = !hasVideo;
    }
    const off = $("preview-off");
    if (off) {
      off.hidden = hasVideo;
      off.textContent = problem ? t("No camera picture") : t("Camera off");
      // Without a picture the big dark box only pushes the join button off a phone's screen.
      off.parentElement.classList.toggle("no-camera", !hasVideo);
    }
    const level = $("mic-level");
    if (level) {
      level.hidden = !hasAudio;
      level.nextElementSibling.hidden = !hasAudio;
    }
  }

  /** Device choices; a kind whose problem no other device can solve (refused, none) has none. */
  setDevices(devices, selected, problems = {}) {
    const useless = (kind) => ["denied", "missing", "unsupported"].includes(problems[kind]);
    const fill = (id, list, chosen, none, unnamed) => {
      const select = $(id);
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
    const box = $("camera-select") && $("camera-select").closest(".devices");
    if (box) box.hidden = useless("audio") && useless("video");
  }

  setProblem(text) {
    const box = $("media-problem");
    box.textContent = text || "";
    box.hidden = !text;
  }

  setMeter(level) {
    const bar = $("mic-meter-bar");
    if (bar) bar.style.transform = `scaleX(${Math.max(0, Math.min(1, level)).toFixed(3)})`;
  }

  get audioOnlyChoice() {
    return $("audio-only-choice").checked;
  }

  set audioOnlyChoice(on) {
    $("audio-only-choice").checked = on;
  }

  // ---- in the room --------------------------------------------------------------------------

  setSoundBlocked(on) {
    $("sound-banner").hidden = !on;
  }

  setControls({ micOn, hasMic, cameraOn, hasCamera, audioOnly }) {
    const mic = $("mic-button");
    if (mic) {
      mic.querySelector(".ctl-label").textContent = micOn ? t("Mute") : t("Unmute");
      setIcon(mic, micOn ? "i-mic" : "i-mic-off");
      mic.classList.toggle("off", !micOn);
      mic.disabled = !hasMic;
    }
    const cam = $("camera-button");
    if (cam) {
      cam.querySelector(".ctl-label").textContent = cameraOn ? t("Stop video") : t("Start video");
      setIcon(cam, cameraOn ? "i-cam" : "i-cam-off");
      cam.classList.toggle("off", !cameraOn);
      cam.disabled = audioOnly || !hasCamera;
    }
    const ao = $("audio-only-button");
    ao.setAttribute("aria-pressed", String(audioOnly));
    ao.classList.toggle("on", audioOnly);
  }

  // ---- tiles --------------------------------------------------------------------------------

  /** models: [{pid, name, role, me, videoVisible, micOn, notice, quality, speaking}] */
  renderTiles(models) {
    const grid = $("tiles");
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

  /** The end: no tile keeps a stream (nor its camera light) alive. */
  clearStreams() {
    for (const tile of this.tiles.values()) tile.video.srcObject = null;
  }

  setSpeaking(pid, on) {
    const tile = this.tiles.get(pid);
    if (tile) tile.node.classList.toggle("speaking", on);
  }
}
