// Who is in the session and who waits, and the mediator's moderation: admit, deny, ask to
// mute, remove. Knows everyone's name (from the roster and the chat), for the toasts and the
// dialogs. views/people.js draws it.

import { t } from "../../i18n.js";

export class PeopleController {
  constructor(page) {
    this.page = page;
    this.client = page.client;
    this.view = page.view.people;
    this.names = new Map(); // pid -> name, kept after they leave (for "X left" and old messages)
  }

  bind() {
    const c = this.client;
    c.addEventListener("roster", () => {
      for (const p of c.participants.values()) this.remember(p.pid, p.name);
      for (const p of c.lobby.values()) this.remember(p.pid, p.name);
      this.page.queueRender();
    });
    c.addEventListener("participant-joined", (e) => this.page.view.toast(t("%(name)s joined", { name: e.detail.participant.name })));
    c.addEventListener("participant-left", (e) => {
      const name = this.names.get(e.detail.pid) || t("Someone");
      this.page.view.toast(e.detail.removed ? t("%(name)s was removed", { name }) : t("%(name)s left", { name }));
    });
    const v = this.page.view;
    v.addEventListener("admit", (e) => this.page.act(() => this.client.admit(e.detail.pid ? [e.detail.pid] : null)));
    v.addEventListener("deny", (e) => this.deny(e.detail.pid));
    v.addEventListener("ask-mute", (e) => this.page.act(async () => {
      await this.client.askToMute(e.detail.pid, "audio");
      this.page.view.toast(t("%(name)s was asked to mute.", { name: this.nameOf(e.detail.pid) }));
    }));
    v.addEventListener("remove", (e) => this.remove(e.detail.pid));
  }

  remember(pid, name) {
    this.names.set(pid, name);
  }

  nameOf(pid) {
    return this.names.get(pid) || t("Someone");
  }

  async deny(pid) {
    const name = this.nameOf(pid);
    const answer = await this.page.view.confirm({
      title: t("Deny %(name)s?", { name }), text: t("They cannot enter this session with their link any more."),
      ok: t("Deny"), reason: true, danger: true,
    });
    if (answer.action === "ok") await this.page.act(() => this.client.deny(pid, answer.reason));
  }

  async remove(pid) {
    const name = this.nameOf(pid);
    const answer = await this.page.view.confirm({
      title: t("Remove %(name)s?", { name }), text: t("They leave the session at once and their link stops working."),
      ok: t("Remove"), reason: true, danger: true,
    });
    if (answer.action === "ok") await this.page.act(() => this.client.remove(pid, answer.reason));
  }

  /** The roster (with each member's media as `media.memberMedia()` tells it) and, for mediators, the lobby. */
  render(people, media) {
    const roster = people.map((p) => {
      const m = media.memberMedia(p);
      return { pid: p.pid, name: p.name, role: p.role, me: m.mine, reconnecting: m.reconnecting,
               micOn: p.publishing ? m.micOn : null, audioOnly: m.audioOnly, quality: m.quality, canPublish: p.publishing };
    });
    const moderator = this.page.canModerate;
    const waiting = moderator ? [...this.client.lobby.values()] : [];
    this.view.renderPeople(roster, waiting, { moderator });
    this.view.setWaitingCount(waiting.length);
  }
}
