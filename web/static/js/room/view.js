// The room's DOM: it renders what the controllers tell it and reports what the person asks for
// as events (intents). It knows nothing of Socket.IO or WebRTC. This file is the frame — the
// screens (prejoin, lobby, stage, ended), banners, toasts, the side panel and the confirmation
// dialog — and composes the parts by concern, each in views/:
//   view.media      preview, devices, controls, tiles           (views/media.js)
//   view.chat       the chat panel                              (views/chat.js)
//   view.people     roster, lobby and the mediator's actions    (views/people.js)
//   view.recording  record button, bar, answers, consent prompt (views/recording.js)
//   view.minutes    the minutes tab: header, claims, entries, opinion, result, saving (views/minutes.js)
//   view.notice     the rights notice: the parties' dialog, the mediator's list    (views/notice.js)
// Every part's intents come out of this one object.
//
// Everything people typed (names, chat, reasons) goes into the page with textContent, never
// as HTML.
//
// Intents of the frame (CustomEvent, data in `detail`): join · leave · rejoin · take-over; the
// parts' intents are listed at the top of their files.

import { t } from "../i18n.js";
import { ChatView } from "./views/chat.js";
import { $, el, listen } from "./views/dom.js";
import { MediaView } from "./views/media.js";
import { MinutesView } from "./views/minutes.js";
import { NoticeView } from "./views/notice.js";
import { PeopleView } from "./views/people.js";
import { RecordingView } from "./views/recording.js";

const TOAST_MS = 6000;
// The side panel's tabs, in order; the first three have a button among the controls.
const TABS = ["chat", "people", "minutes", "case"];

export class RoomView extends EventTarget {
  constructor(root) {
    super();
    this.root = root;
    this.screen = null;
    this.panelOpen = window.matchMedia("(min-width: 960px)").matches;
    this.tab = "chat";
    const intent = (type, detail) => this.intent(type, detail);
    this.media = new MediaView({ intent });
    this.chat = new ChatView({ intent, visible: () => this.chatVisible });
    this.people = new PeopleView({ intent });
    this.recording = new RecordingView({ intent });
    this.minutes = new MinutesView({ intent });
    this.notice = new NoticeView({ intent });
    this.bind();
    this.applyPanel();
  }

  intent(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  bind() {
    listen("join-button", "click", () => this.intent("join"));
    listen("lobby-leave", "click", () => this.intent("leave"));
    listen("leave-button", "click", () => this.intent("leave"));
    listen("chat-button", "click", () => this.togglePanel("chat"));
    listen("people-button", "click", () => this.togglePanel("people"));
    listen("minutes-button", "click", () => this.togglePanel("minutes"));
    listen("panel-close", "click", () => this.closePanel());
    for (const tab of TABS) {
      listen(`tab-${tab}`, "click", () => this.selectTab(tab));
      listen(`tab-${tab}`, "keydown", (e) => {
        if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
          const step = e.key === "ArrowRight" ? 1 : TABS.length - 1;
          this.selectTab(TABS[(TABS.indexOf(this.tab) + step) % TABS.length]);
          $(`tab-${this.tab}`).focus();
          e.preventDefault();
        }
      });
    }
    listen("rejoin-button", "click", () => this.intent("rejoin"));
    listen("take-over-button", "click", () => this.intent("take-over"));
    // The dialog: Cancel closes it; Enter in the reason field confirms (not the form's first button).
    listen("dialog-cancel", "click", () => $("dialog").close("cancel"));
    listen("dialog-reason", "keydown", (e) => {
      if (e.key === "Enter" && !e.isComposing) {
        e.preventDefault();
        $("dialog").close("ok");
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
    for (const name of ["prejoin", "lobby", "stage", "ended"]) $(name).hidden = name !== screen;
    document.body.dataset.screen = screen;
    if (!hadFocus) return;
    // The button pressed has gone with its screen: put keyboard focus somewhere sensible.
    const target = { lobby: "lobby-h", stage: "mic-button", ended: "ended-title" }[screen];
    const node = target && ($(target) || $("audio-only-button"));
    if (node) {
      if (!node.matches("button")) node.tabIndex = -1;
      node.focus();
    }
  }

  // ---- prejoin and lobby --------------------------------------------------------------------

  setJoinEnabled(on) {
    $("join-button").disabled = !on;
  }

  setJoinStatus(text) {
    $("join-status").textContent = text || "";
  }

  setLobbyReason(reason) {
    $("lobby-reason").textContent = reason === "waiting_for_mediator"
      ? t("The mediator has not arrived yet. You will be let in when the mediator admits you.")
      : t("The mediator knows you are here and will let you in shortly.");
  }

  // ---- banners and notices ------------------------------------------------------------------

  setConnection(text) {
    const banner = $("conn-banner");
    banner.textContent = text || "";
    banner.hidden = !text;
  }

  toast(text) {
    const box = $("toasts");
    const item = el("p", { class: "toast", text });
    box.append(item);
    while (box.children.length > 3) box.firstElementChild.remove();
    setTimeout(() => item.remove(), TOAST_MS);
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
    const button = $(`${this.tab}-button`) || $("people-button");
    if (button && document.activeElement && $("panel").contains(document.activeElement)) button.focus();
  }

  selectTab(tab) {
    this.tab = tab;
    for (const name of TABS) {
      const selected = name === tab;
      $(`tab-${name}`).setAttribute("aria-selected", String(selected));
      $(`tab-${name}`).tabIndex = selected ? 0 : -1;
      $(`panel-${name}`).hidden = !selected;
    }
    this.applyPanel();
  }

  applyPanel() {
    $("stage").classList.toggle("panel-open", this.panelOpen);
    $("stage").dataset.tab = this.tab;
    for (const name of TABS) {
      const button = $(`${name}-button`);
      if (!button) continue;
      button.setAttribute("aria-expanded", String(this.panelOpen && this.tab === name));
      button.classList.toggle("on", this.panelOpen && this.tab === name);
    }
    if (this.chatVisible) this.chat.setUnread(0);
    if (this.minutesVisible) this.minutes.setUnread(false);
  }

  get minutesVisible() {
    return this.panelOpen && this.tab === "minutes";
  }

  get chatVisible() {
    return this.panelOpen && this.tab === "chat";
  }

  // ---- the end ------------------------------------------------------------------------------

  /** The end screen. `sign`: the session is over and this person signs its documents, which
   *  their link still opens (the server's grants.link_outlives_session). */
  showEnded({ title, text, reason = "", rejoin = false, takeOver = false, sign = false }) {
    $("ended-title").textContent = title;
    $("ended-text").textContent = text || "";
    $("ended-reason").textContent = reason ? t("Reason: %(reason)s", { reason }) : "";
    $("ended-reason").hidden = !reason;
    $("rejoin-button").hidden = !rejoin;
    $("take-over-button").hidden = !takeOver;
    const signLink = document.getElementById("ended-sign"); // only in the page of someone who signs
    if (signLink) signLink.hidden = !sign;
    this.media.clearStreams();
    this.show("ended");
  }

  // ---- dialog -------------------------------------------------------------------------------

  /** Ask for confirmation. Resolves to {action: "ok" | "extra" | "cancel", reason}. */
  confirm({ title, text, ok, extra = null, reason = false, danger = false }) {
    const dialog = $("dialog");
    $("dialog-title").textContent = title;
    $("dialog-text").textContent = text || "";
    $("dialog-ok").textContent = ok;
    $("dialog-ok").classList.toggle("danger", danger);
    const extraButton = $("dialog-extra");
    extraButton.hidden = !extra;
    extraButton.textContent = extra || "";
    $("dialog-reason-label").hidden = !reason;
    $("dialog-reason").value = "";
    dialog.returnValue = "cancel";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        resolve({ action: dialog.returnValue || "cancel", reason: $("dialog-reason").value.trim() });
      }, { once: true });
      dialog.showModal();
      (reason ? $("dialog-reason") : $("dialog-cancel")).focus();
    });
  }
}
