// Chat: messages as the client (client.js) has them, one's own while unacknowledged (sent
// again on request with the same client id, so the server keeps it once), and whom one may
// write to privately. views/chat.js draws it.

export class ChatController {
  constructor(page) {
    this.page = page;
    this.client = page.client;
    this.view = page.view.chat;
    this.unsent = new Map(); // client id -> {text, to}: messages not acknowledged yet
  }

  bind() {
    const c = this.client;
    c.addEventListener("chat", (e) => {
      for (const m of e.detail.messages) {
        this.page.peopleControl.remember(m.from.pid, m.from.name);
        this.unsent.delete(m.client_id);
      }
      this.view.renderChat(e.detail.messages, { myPid: c.me && c.me.pid, nameOf: (pid) => this.page.nameOf(pid) });
    });
    c.addEventListener("chat-pending", (e) => {
      const { client_id: clientId, text, to } = e.detail;
      this.unsent.set(clientId, { text, to });
      this.view.addPending({ clientId, text, to, toName: to ? this.page.nameOf(to) : "" });
    });
    c.addEventListener("chat-failed", (e) => this.view.failPending(e.detail.client_id));
    const v = this.page.view;
    v.addEventListener("chat-send", (e) => this.client.sendChat(e.detail.text, e.detail.to).catch(() => {}));
    v.addEventListener("chat-retry", (e) => {
      const message = this.unsent.get(e.detail.clientId);
      if (message) this.client.sendChat(message.text, message.to, e.detail.clientId).catch(() => {});
    });
  }

  /** Whom one may write to privately: a mediator anyone; everyone else only the mediators. */
  render(people) {
    const me = this.client.me.pid;
    const targets = people.filter((p) => p.pid !== me && (this.page.canModerate || p.role === "mediator"));
    this.view.setChatTargets(targets.map((p) => ({ pid: p.pid, name: p.name })));
  }
}
