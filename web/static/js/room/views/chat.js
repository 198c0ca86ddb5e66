// The chat panel: messages as they arrive, one's own while they are being sent (and a way to
// send again when that failed), whom to write to, and the count of unread messages. It draws
// what the chat controller (controllers/chat.js) tells it.
//
// Intents: chat-send {text, to} · chat-retry {clientId}

import { t } from "../../i18n.js";
import { $, el, fill, listen, roleLabel, timeOf } from "./dom.js";

export class ChatView {
  /** `visible()`: whether the chat is on screen now (the panel is open on its tab). */
  constructor({ intent, visible }) {
    this.intent = intent;
    this.visible = visible;
    this.chatNodes = new Map(); // message id -> li
    this.pendingNodes = new Map(); // client id -> li
    this.unread = 0;
    this.chatTargetsKey = null;
    listen("chat-form", "submit", (e) => {
      e.preventDefault();
      this.submitChat();
    });
    listen("chat-text", "keydown", (e) => {
      // Enter sends, Shift+Enter starts a new line (not while an input method is composing).
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submitChat();
      }
    });
    const log = $("chat-log");
    if (log) log.addEventListener("click", (e) => {
      const button = e.target.closest("button[data-retry]");
      if (button) this.intent("chat-retry", { clientId: button.dataset.retry });
    });
  }

  setUnread(n) {
    this.unread = n;
    const badge = $("chat-badge");
    badge.textContent = n > 9 ? "9+" : String(n);
    badge.hidden = n === 0;
  }

  setChatTargets(targets) {
    const select = $("chat-to");
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
    const box = $("chat-text");
    const text = box.value.trim();
    if (!text) return;
    this.intent("chat-send", { text, to: $("chat-to").value || null });
    box.value = "";
    box.focus();
  }

  nearBottom(log) {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }

  /** messages: the whole list, oldest first; new ones are added, none re-rendered. */
  renderChat(messages, { myPid, nameOf }) {
    const log = $("chat-log");
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
    $("chat-empty").hidden = log.children.length > 0;
    if (fresh && !this.visible()) this.setUnread(this.unread + fresh);
    if (stick || !fresh) log.scrollTop = log.scrollHeight;
  }

  firstPending() {
    return $("chat-log").querySelector("li.pending");
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
      $("chat-log").append(li);
    }
    fill(li,
      el("p", { class: "msg-head" }, el("span", { class: "msg-from", text: t("You") }),
        to ? el("span", { class: "msg-private", text: t("Private, to %(name)s", { name: toName }) }) : null,
        el("span", { class: "msg-sending", text: t("Sending…") })),
      el("p", { class: "msg-text", text }));
    $("chat-empty").hidden = true;
    const log = $("chat-log");
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
}
