// The rights and obligations notice (人民调解权利义务告知书): the mediator presents it; each
// party's device shows it, in the party's language, until they acknowledge it; the mediator
// sees who has. Acknowledgements are stored and logged by the server (docs/protocol.md,
// "The rights notice"); views/notice.js draws it.

import { t } from "../../i18n.js";

const PARTY_ROLES = new Set(["applicant", "respondent", "agent"]);

export class NoticeController {
  constructor(page) {
    this.page = page;
    this.client = page.client;
    this.view = page.view.notice;
    this.notice = null; // {sha256, html}: the notice as last presented or fetched
    this.acknowledged = false;
    this.presented = false;
    this.shown = false; // the dialog has been opened on this page
    this.acks = new Map(); // pid -> {pid, name, role, at}: who acknowledged (mediators)
    for (const a of page.initialAcks || []) this.acks.set(a.pid, a);
  }

  get isParty() {
    return Boolean(this.client.me) && PARTY_ROLES.has(this.client.me.role);
  }

  bind() {
    const c = this.client;
    c.addEventListener("joined", () => this.refresh());
    c.addEventListener("admitted", () => this.refresh());
    c.addEventListener("room-event", (e) => {
      const { type, data } = e.detail;
      if (type === "notice.presented") this.onPresented(data);
      else if (type === "notice.acknowledged") this.onAcknowledged(data);
    });
    const v = this.page.view;
    v.addEventListener("notice-present", () => this.present());
    v.addEventListener("notice-ack", () => this.acknowledge());
    v.addEventListener("notice-open", () => this.notice && this.view.show(this.notice.html, this.page.lang));
    this.view.setPresenting(false, false);
  }

  /** After a (re)join or a reload: whether the notice was presented and this party has
   *  acknowledged it. A party who has not sees it again, without the mediator presenting it
   *  again: as a dialog the first time on this page, then as the reminder banner. */
  async refresh() {
    if (!this.page.admitted || !(this.isParty || this.page.canModerate)) return;
    let ack;
    try {
      ack = await this.client.request("notice.get");
    } catch {
      return; // shown when the mediator presents it
    }
    this.notice = { sha256: ack.notice_sha256, html: ack.html };
    this.presented = this.presented || Boolean(ack.presented_at);
    if (this.page.canModerate) this.view.setPresenting(false, this.presented);
    if (!this.isParty) return;
    this.acknowledged = Boolean(ack.acknowledged_at);
    if (this.acknowledged) {
      this.view.close();
    } else if (ack.presented_at) {
      if (this.shown) this.view.setBanner(true);
      else this.showNotice(ack.html);
    }
  }

  showNotice(html) {
    this.shown = true;
    this.view.show(html, this.page.lang);
  }

  onPresented(data) {
    this.presented = true;
    this.view.setPresenting(false, true);
    if (!this.isParty) return;
    this.notice = { sha256: data.notice_sha256, html: data.html };
    if (!this.acknowledged) this.showNotice(data.html);
  }

  onAcknowledged(data) {
    if (!data || !data.pid) return;
    const known = this.acks.has(data.pid);
    this.acks.set(data.pid, data);
    if (this.client.me && data.pid === this.client.me.pid) {
      this.acknowledged = true;
      this.view.close();
    } else if (!known && this.page.canModerate) {
      this.page.view.toast(t("%(name)s has acknowledged the notice.", { name: data.name }));
    }
    this.page.queueRender();
  }

  async present() {
    this.view.setPresenting(true, this.presented);
    await this.page.act(async () => {
      await this.client.request("notice.present");
      this.presented = true;
      this.page.view.toast(t("The notice is shown on the parties' devices."));
    });
    this.view.setPresenting(false, this.presented);
  }

  async acknowledge() {
    if (!this.notice) return;
    try {
      await this.client.request("notice.acknowledge", { notice_sha256: this.notice.sha256, language: this.page.lang });
      this.acknowledged = true;
      this.view.close();
      this.page.view.toast(t("Thank you. The mediator can see that you have read the notice."));
    } catch {
      this.page.view.toast(t("Your confirmation did not reach the server. Please try again."));
      this.view.setBanner(true);
    }
  }

  /** The mediator's list: every party in the room, and anyone who acknowledged. */
  render(people) {
    if (!this.page.canModerate) return;
    const rows = new Map();
    for (const p of people) if (PARTY_ROLES.has(p.role)) rows.set(p.pid, { pid: p.pid, name: p.name, role: p.role, at: null });
    for (const a of this.acks.values()) rows.set(a.pid, a);
    this.view.renderAcks([...rows.values()]);
  }
}
