// Recording: the mediator's start and stop, the consent prompt and the answers, the bar that
// says who is recorded, and the connection that sends this participant's media to the recorder
// (recorder.js) exactly while docs/protocol.md says to. views/recording.js draws it.

import { t } from "../../i18n.js";
import { RECORDER_PID } from "../client.js";
import { RecorderLink } from "../recorder.js";
import { errorText } from "./errors.js";

/** Why a recording stopped, for the mediator, when it was not their doing; null otherwise. */
export function recordingStopText(reason) {
  switch (reason) {
    case "disk_full":
      return t("Recording stopped: the server's disk is full. What was recorded until then is kept. Tell the system administrator.");
    case "disk_error":
      return t("Recording stopped: the server could not write the recording. What was recorded until then is kept. Tell the system administrator.");
    case "recorder_error":
      return t("Recording stopped: the recorder failed. What was recorded until then is kept. You can start recording again.");
    default:
      return null;
  }
}

export class RecordingController {
  constructor(page) {
    this.page = page;
    this.client = page.client;
    this.view = page.view.recording;
    this.recorder = new RecorderLink({
      sendSignal: (message) => this.client.signal(RECORDER_PID, message),
      iceServers: () => this.client.iceServers,
      videoMaxKbps: page.videoMaxKbps,
    });
    this.recordBusy = false; // a start or stop request is under way
    this.consentBusy = false; // an answer is on its way
    this.consentDismissed = null; // the run whose prompt was closed without an answer
  }

  bind() {
    const c = this.client;
    c.addEventListener("recording", (e) => this.onRecording(e.detail));
    c.addEventListener("recording-consents", () => this.page.queueRender());
    c.addEventListener("consent-requested", () => {
      this.consentDismissed = null;
      this.updateConsent();
    });
    // The recorder's answers: for the recorder connection only, never the mesh.
    c.addEventListener("recorder-signal", (e) => this.recorder.handleSignal(e.detail));
    const v = this.page.view;
    v.addEventListener("record", () => this.toggleRecording());
    v.addEventListener("consent", (e) => this.answerConsent(e.detail.consent));
    v.addEventListener("consent-dismissed", () => {
      this.consentDismissed = this.client.recording.recording_id;
      this.page.queueRender();
    });
    v.addEventListener("consent-open", () => {
      this.consentDismissed = null;
      this.updateConsent();
    });
  }

  onRecording({ recording, previous, stopReason, snapshot }) {
    if (snapshot) {
      // A join or a resync: no news to announce, only a state to show.
    } else if (previous.state !== "off" && recording.state === "off") {
      this.consentDismissed = null;
      const why = this.page.canRecord ? recordingStopText(stopReason) : null;
      if (why) this.view.setRecordingAlert(why);
      else if (this.page.admitted) this.page.view.toast(t("Recording has stopped."));
    }
    if (recording.state !== "off") this.view.setRecordingAlert(null);
    this.syncRecorder();
    this.updateConsent();
    this.page.queueRender();
  }

  /** Send to the recorder exactly while docs/protocol.md says to: recording on, the recorder
   *  ready, this participant in `recorded`, and something to send. */
  syncRecorder() {
    const media = this.page.mediaControl;
    const sending = media.publishing && this.page.admitted;
    this.recorder.setTrack("audio", sending ? media.media.audioTrack : null);
    this.recorder.setTrack("video", sending && !media.audioOnly ? media.media.videoTrack : null);
    this.recorder.want(sending ? this.client.recorderRun : null);
  }

  /** The prompt shows while this participant's answer is needed, unless they closed it unanswered. */
  updateConsent() {
    const c = this.client;
    const show = c.consentNeeded && !this.consentBusy && this.page.view.screen === "stage"
      && this.consentDismissed !== c.recording.recording_id;
    this.view.showConsent(show);
  }

  async answerConsent(consent) {
    if (this.consentBusy) return;
    this.consentBusy = true;
    this.view.showConsent(false);
    try {
      // The recording bar says what the answer means (a live region): no toast on top of it.
      await this.client.answerRecording(consent, this.page.lang);
    } catch (err) {
      this.page.view.toast(errorText(err));
    } finally {
      this.consentBusy = false;
      this.updateConsent();
      this.page.queueRender();
    }
  }

  async toggleRecording() {
    if (this.recordBusy || !this.page.canRecord) return;
    const running = this.client.recording.state !== "off";
    if (running) {
      const answer = await this.page.view.confirm({
        title: t("Stop recording?"), text: t("What was recorded until now is kept with the case."),
        ok: t("Stop recording"), danger: true,
      });
      if (answer.action !== "ok" || this.client.recording.state === "off") return;
    }
    this.recordBusy = true;
    this.page.queueRender();
    try {
      if (running) await this.client.stopRecording();
      else {
        this.view.setRecordingAlert(null);
        await this.client.startRecording();
      }
    } catch (err) {
      // A conflict means someone else (or the API) got there first: the room's state says which.
      if (err.code !== "conflict") this.page.view.toast(errorText(err));
    } finally {
      this.recordBusy = false;
      this.page.queueRender();
    }
  }

  /** The end: nothing more goes to the recorder, and nobody is asked any more. */
  stop() {
    this.recorder.stop();
    this.view.showConsent(false);
  }

  render() {
    const c = this.client;
    const r = c.recording;
    this.view.setRecordButton({ state: r.state, busy: this.recordBusy });
    if (!this.page.admitted || r.state === "off") {
      this.view.setRecordingBar(null);
      this.view.setRecordingConsents({ visible: false, pending: [], refused: [] });
      return;
    }
    const on = r.state === "on";
    let self = null;
    let change = null;
    // The roles asked come from the server (the snapshot's consenting_roles), never a copy here.
    if (c.me && c.consentingRoles.has(c.me.role)) {
      if (r.your_consent === "granted") {
        // Someone with nothing to send (no camera or microphone) is not recorded, whatever they said.
        self = on && this.page.mediaControl.publishing ? t("You are being recorded.") : t("You agreed to be recorded.");
        change = "withdraw";
      } else if (r.your_consent === "refused") {
        self = t("You are not being recorded.");
        change = "grant";
      } else {
        self = t("You have not answered yet.");
        change = "answer";
      }
    } else if (this.page.canRecord && on && !r.recorder_ready) {
      self = t("The recorder is starting…");
    }
    this.view.setRecordingBar({
      on, text: on ? t("Recording") : t("Waiting for everyone to agree to the recording…"), self, change,
    });
    if (this.page.canRecord) {
      const { consents, pending } = c.recordingConsents;
      const refused = Object.keys(consents).filter((pid) => consents[pid] === "refused");
      this.view.setRecordingConsents({
        visible: true, pending: pending.map((pid) => this.page.nameOf(pid)), refused: refused.map((pid) => this.page.nameOf(pid)),
      });
    }
  }
}
