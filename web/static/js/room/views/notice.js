// The rights and obligations notice (人民调解权利义务告知书): the parties' dialog with the full
// text in their language and a button that acknowledges it; the mediator's button that presents
// it, and the list of who has acknowledged it.
//
// The text comes from the server as one HTML document with a section per language (its template
// is web/templates/documents/rights_notice.html); document-text.js copies its text and plain
// structure into the page.
//
// Intents: notice-present · notice-ack · notice-open

import { documentNodes } from "../../document-text.js";
import { t } from "../../i18n.js";
import { $, el, fill, listen, roleLabel } from "./dom.js";
import { timeOfDay } from "./minutes.js";

/** The notice's plain structure, from its HTML: the section in `lang`, else all of it. */
export function noticeNodes(html, lang) {
  return documentNodes(html, { lang: lang === "en" ? "en" : "zh" });
}

export class NoticeView {
  constructor({ intent }) {
    this.intent = intent;
    this.bind();
  }

  bind() {
    listen("notice-present", "click", () => this.intent("notice-present"));
    listen("notice-open", "click", () => this.intent("notice-open"));
    listen("notice-dialog", "close", () => {
      const dialog = $("notice-dialog");
      if (dialog.returnValue === "ack") this.intent("notice-ack");
      else this.setBanner(true);
    });
  }

  /** Show the notice to a party. */
  show(html, lang) {
    const dialog = $("notice-dialog");
    if (!dialog) return;
    fill($("notice-text"), ...noticeNodes(html, lang));
    $("notice-ack").disabled = false;
    this.setBanner(false);
    dialog.returnValue = "";
    if (!dialog.open) dialog.showModal();
    $("notice-text").scrollTop = 0;
    $("notice-title").focus();
  }

  close() {
    const dialog = $("notice-dialog");
    if (dialog && dialog.open) dialog.close("done");
    this.setBanner(false);
  }

  /** The reminder that a notice waits to be read (after the dialog was closed without an answer). */
  setBanner(on) {
    const banner = $("notice-banner");
    if (banner) banner.hidden = !on;
  }

  setPresenting(busy, presented) {
    const button = $("notice-present");
    if (!button) return;
    button.disabled = busy;
    button.textContent = presented ? t("Present the notice again") : t("Present the notice");
  }

  /** The mediator's list: each party in the room or who acknowledged, with their answer. */
  renderAcks(rows) {
    const list = $("notice-acks");
    if (!list) return;
    fill(list, ...rows.map((r) => el("li", { class: r.at ? "ack done" : "ack" },
      el("span", { class: "ack-name", text: `${r.name}（${roleLabel(r.role)}）` }), " ",
      el("span", { class: "ack-state", text: r.at ? t("acknowledged at %(time)s", { time: timeOfDay(r.at) }) : t("not yet acknowledged") }))));
  }
}
