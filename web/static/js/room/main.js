// The room page: composes the protocol client (client.js), the view (view.js) and one
// controller per concern, each in controllers/:
//   media      camera, microphone, devices, audio only, the peer connections, tiles  (controllers/media.js)
//   chat       messages, pending ones, private targets                               (controllers/chat.js)
//   people     roster, lobby, admit / deny / ask to mute / remove                    (controllers/people.js)
//   recording  start / stop, consent, the recording bar, the recorder connection     (controllers/recording.js)
//   minutes    the minutes: load, edit, autosave, resend after drops, conflicts      (controllers/minutes.js)
//   notice     the rights notice: present, acknowledge, who has                     (controllers/notice.js)
// What stays here is the session's course — prejoin, join, lobby, stage, the end — and the
// render loop that asks each controller to draw its part.

import { io } from "/static/vendor/socket.io/socket.io.esm.min.js";
import { loadCatalog, t } from "../i18n.js";
import { RoomClient } from "./client.js";
import { ChatController } from "./controllers/chat.js";
import { errorText } from "./controllers/errors.js";
import { MediaController } from "./controllers/media.js";
import { MinutesController } from "./controllers/minutes.js";
import { NoticeController } from "./controllers/notice.js";
import { PeopleController } from "./controllers/people.js";
import { RecordingController } from "./controllers/recording.js";
import { orderedParticipants } from "./state.js";
import { RoomView } from "./view.js";

class RoomPage {
  constructor(root) {
    const data = root.dataset;
    this.sessionId = data.sessionId;
    this.grants = new Set((data.grants || "").split(" ").filter(Boolean));
    this.canPublish = this.grants.has("publish");
    this.canModerate = this.grants.has("moderate");
    this.canRecord = this.grants.has("control_recording");
    this.lang = data.lang === "en" ? "en" : "zh"; // the language the consent prompt is shown in
    this.videoMaxKbps = Number(data.videoMaxKbps) || 500;
    this.initialAcks = readJson("notice-acks-data") || [];
    this.view = new RoomView(root);
    this.client = new RoomClient(this.sessionId, { ioFactory: io });
    this.mediaControl = new MediaController(this);
    this.chatControl = new ChatController(this);
    this.peopleControl = new PeopleController(this);
    this.recordingControl = new RecordingController(this);
    this.minutesControl = new MinutesController(this);
    this.noticeControl = new NoticeController(this);
    this.renderQueued = false;
  }

  // The live objects, for support and the browser tests (window.heshiRoom.media, .mesh, .recorder).
  get media() { return this.mediaControl.media; }
  get mesh() { return this.mediaControl.mesh; }
  get recorder() { return this.recordingControl.recorder; }

  get admitted() {
    return this.client.me && this.client.me.state === "admitted" && !this.client.final;
  }

  nameOf(pid) {
    return this.peopleControl.nameOf(pid);
  }

  /** Run a request; say so if it fails. */
  async act(fn) {
    try {
      await fn();
    } catch (err) {
      this.view.toast(errorText(err));
    }
  }

  /** What this participant sends changed: the recorder follows, and the page is drawn again. */
  mediaChanged() {
    this.recordingControl.syncRecorder();
    this.queueRender();
  }

  // ---- start ------------------------------------------------------------------------------

  async start() {
    this.bindView();
    this.bindClient();
    for (const control of [this.mediaControl, this.chatControl, this.peopleControl, this.recordingControl,
      this.minutesControl, this.noticeControl]) control.bind();
    this.view.media.audioOnlyChoice = this.mediaControl.audioOnly;
    this.view.show("prejoin");
    const rejoin = this.client.wasInRoom;
    if (rejoin) this.view.setJoinStatus(t("Returning to your seat…"));
    await this.mediaControl.openMedia();
    if (rejoin) {
      // A reload (or a return after a crash) goes back to the same seat without asking again.
      this.join();
    } else {
      this.view.setJoinEnabled(true);
      this.mediaControl.startMeter();
    }
  }

  join() {
    this.view.setJoinEnabled(false);
    this.view.setJoinStatus(t("Connecting…"));
    this.mediaControl.joining();
    this.client.connect();
  }

  // ---- the session's course ---------------------------------------------------------------------

  bindClient() {
    const c = this.client;
    c.addEventListener("state", (e) => this.onState(e.detail));
    c.addEventListener("joined", (e) => this.onJoined(e.detail));
    c.addEventListener("admitted", () => this.enterRoom({ fresh: false }));
    c.addEventListener("lobby-reason", (e) => this.view.setLobbyReason(e.detail.reason));
    c.addEventListener("server-error", (e) => console.warn("server error", e.detail));
  }

  bindView() {
    const v = this.view;
    v.addEventListener("join", () => this.join());
    v.addEventListener("leave", () => this.leave());
    v.addEventListener("rejoin", () => window.location.reload());
    v.addEventListener("take-over", async () => {
      if (this.canPublish && !this.media.audioTrack && !this.media.videoTrack) await this.mediaControl.openMedia();
      this.client.takeOver();
    });
  }

  onState({ state, code, reason, message }) {
    switch (state) {
      case "connecting":
        if (this.view.screen === "prejoin") this.view.setJoinStatus(t("Connecting…"));
        break;
      case "reconnecting":
        if (this.view.screen === "prejoin") {
          this.view.setJoinStatus(t("Cannot reach the server. Check the network; trying again…"));
        } else {
          this.view.setConnection(t("The connection to the server was lost. Reconnecting…"));
        }
        break;
      case "lobby":
        this.view.setConnection(null);
        this.view.show("lobby");
        break;
      case "admitted":
        this.view.setConnection(null);
        break;
      case "replaced":
        this.stopMedia(false);
        this.view.showEnded({
          title: t("This session is open in another window"),
          text: t("You opened this session in another window or on another device. Only one of them can take part."),
          takeOver: true,
        });
        break;
      case "left":
        this.stopMedia(true);
        this.view.showEnded({
          title: t("You have left the session"),
          text: t("You can come back with the same link while the session is running."), rejoin: true,
        });
        break;
      case "ended":
        this.stopMedia(true);
        // A revoked or expired link ends here too (invalid_token); only a finished session leaves
        // its documents to sign.
        this.view.showEnded({
          title: t("The session has ended"), text: t("Thank you for taking part."), reason,
          sign: code === "ended" || code === "session_ended",
        });
        break;
      case "refused":
        this.stopMedia(true);
        this.showRefused(code, reason, message);
        break;
      default:
        break;
    }
  }

  showRefused(code, reason) {
    if (code === "denied") {
      this.view.showEnded({ title: t("You were not admitted"), text: t("The mediator did not let you into this session."), reason });
    } else if (code === "removed") {
      this.view.showEnded({ title: t("You were removed from the session"), text: t("The mediator removed you from this session."), reason });
    } else {
      this.view.showEnded({ title: t("This link can no longer be used"), text: t("Ask the mediator for a new link.") });
    }
  }

  onJoined({ resumed, reconnect }) {
    const me = this.client.me;
    this.peopleControl.remember(me.pid, me.name);
    this.mediaControl.ensureMesh(me.pid);
    // A new connection that took back a seat: the others set media up again with us.
    if (me.state === "admitted") this.enterRoom({ fresh: resumed || reconnect });
    else this.view.setLobbyReason(this.client.lobbyReason);
  }

  /** In the room. On a new connection to a kept seat, media starts again from scratch (docs/protocol.md). */
  async enterRoom({ fresh }) {
    this.view.show("stage");
    this.view.setConnection(null);
    await this.mediaControl.enterRoom({ fresh });
    this.recordingControl.syncRecorder();
    this.recordingControl.updateConsent();
    this.queueRender();
    this.view.chat.setUnread(0);
  }

  /** The end, or another window took the seat: `release` gives the camera and microphone back. */
  stopMedia(release) {
    this.recordingControl.stop();
    this.mediaControl.stop(release);
  }

  async leave() {
    if (this.client.state !== "admitted" && this.client.state !== "lobby") {
      this.client.leave();
      return;
    }
    const mediator = this.canModerate && this.client.state === "admitted";
    const answer = await this.view.confirm({
      title: t("Leave the session?"),
      text: mediator ? t("You can leave and come back, or end the session for everyone.")
        : t("You can come back with the same link while the session is running."),
      ok: t("Leave"), extra: mediator ? t("End for everyone") : null,
    });
    if (answer.action === "ok") await this.client.leave();
    else if (answer.action === "extra") await this.act(() => this.client.endSession());
  }

  // ---- drawing --------------------------------------------------------------------------------

  queueRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  render() {
    this.mediaControl.renderControls();
    if (!this.client.me) return;
    const people = orderedParticipants(this.client.room);
    this.mediaControl.renderTiles(people);
    this.peopleControl.render(people, this.mediaControl);
    this.chatControl.render(people);
    this.recordingControl.render();
    this.minutesControl.render(people);
    this.noticeControl.render(people);
  }
}

function readJson(id) {
  const node = document.getElementById(id);
  try {
    return node ? JSON.parse(node.textContent) : null;
  } catch {
    return null;
  }
}

loadCatalog();
const root = document.getElementById("room");
if (root) {
  const page = new RoomPage(root);
  // For support and for the browser tests: the live objects of this page.
  window.heshiRoom = page;
  page.start();
}
