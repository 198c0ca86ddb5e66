// Recording on the page: the mediator's start/stop button and view of the answers, the bar
// everyone sees while recording is asked for or on, the alert when it stopped by itself, and
// the consent prompt. It draws what the recording controller (controllers/recording.js) tells it.
//
// Intents: record (start or stop, the mediator) · consent {consent: true|false}
//   consent-dismissed (the prompt closed unanswered) · consent-open (show the prompt again)

import { t } from "../../i18n.js";
import { $, listen, setIcon } from "./dom.js";

export class RecordingView {
  constructor({ intent }) {
    this.intent = intent;
    this.consentShown = false;
    listen("record-button", "click", () => this.intent("record"));
    listen("rec-alert-close", "click", () => this.setRecordingAlert(null));
    listen("rec-change", "click", (e) => {
      const action = e.currentTarget.dataset.action;
      if (action === "answer") this.intent("consent-open");
      else this.intent("consent", { consent: action === "grant" });
    });
    // The prompt: Agree or Refuse answers; Escape closes it unanswered (the bar offers it again).
    const consent = $("consent-dialog");
    if (consent) {
      consent.addEventListener("close", () => {
        const answer = consent.returnValue;
        if (answer === "agree" || answer === "refuse") this.intent("consent", { consent: answer === "agree" });
        else if (this.consentShown) this.intent("consent-dismissed");
        this.consentShown = false;
      });
    }
  }

  /** The mediator's start/stop button: `state` off | waiting_for_consent | on; `busy` while a request runs. */
  setRecordButton({ state, busy }) {
    const button = $("record-button");
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
    const bar = $("rec-bar");
    bar.hidden = !model;
    if (!model) return;
    bar.classList.toggle("on", Boolean(model.on));
    $("rec-text").textContent = model.text;
    const self = $("rec-self");
    self.textContent = model.self || "";
    self.hidden = !model.self;
    const change = $("rec-change");
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
    const box = $("rec-consents");
    if (!box) return;
    box.hidden = !visible || (!pending.length && !refused.length);
    const show = (id, names, text) => {
      const node = $(id);
      node.hidden = !names.length;
      node.textContent = names.length ? text(names.join(t(", "))) : "";
    };
    show("rec-pending", pending, (names) => t("Not answered yet: %(names)s", { names }));
    show("rec-refused", refused, (names) => t("Refused, not recorded: %(names)s", { names }));
  }

  setRecordingAlert(text) {
    const box = $("rec-alert");
    if (!box) return;
    $("rec-alert-text").textContent = text || "";
    box.hidden = !text;
  }

  get consentOpen() {
    const dialog = $("consent-dialog");
    return Boolean(dialog && dialog.open);
  }

  /** Show or hide the consent prompt (a modal dialog: it has the keyboard until answered or closed). */
  showConsent(on) {
    const dialog = $("consent-dialog");
    if (!dialog || dialog.open === on) return;
    if (on) {
      dialog.returnValue = "";
      this.consentShown = true;
      dialog.showModal();
      // Focus on the question, not on either answer: Enter must not answer for the person.
      const title = $("consent-title");
      title.tabIndex = -1;
      title.focus();
    } else {
      this.consentShown = false;
      dialog.close("");
    }
  }
}
