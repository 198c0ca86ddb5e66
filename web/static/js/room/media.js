// This browser's camera and microphone: open them with fallbacks, switch devices, turn the
// camera off and on, and measure the microphone level. No DOM, no signaling.
//
// Problems are reported per kind, never thrown: joining with audio only, or with nothing at
// all, must still work.
//   denied       the person (or the browser's settings) refused access
//   missing      no such device
//   busy         another program holds the device
//   unsupported  this browser cannot capture here (old browser, or a page not served over https)

// Small video for weak networks and cheap phones; the bitrate cap does the rest.
const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15, max: 24 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

export function problemOf(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") return "denied";
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") return "missing";
  if (name === "NotReadableError" || name === "AbortError" || name === "TrackStartError") return "busy";
  return "unsupported";
}

export class LocalMedia extends EventTarget {
  constructor() {
    super();
    this.audioTrack = null;
    this.videoTrack = null;
    this.audioDeviceId = "";
    this.videoDeviceId = "";
    this.problems = { audio: null, video: null };
    this.micOn = true;
    this.audioContext = null;
    this.analyser = null;
    this.source = null;
    this.samples = null;
  }

  static get supported() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  emitChange() {
    this.dispatchEvent(new CustomEvent("change", { detail: { audio: this.audioTrack, video: this.videoTrack } }));
  }

  constraints(kind, deviceId) {
    const base = kind === "video" ? { ...VIDEO } : { ...AUDIO };
    if (deviceId) base.deviceId = { exact: deviceId };
    else if (kind === "video") base.facingMode = "user";
    return base;
  }

  /** Open what is asked for; whatever fails is recorded in `problems`. */
  async open({ audio = true, video = true } = {}) {
    this.problems = { audio: null, video: null };
    if (!LocalMedia.supported) {
      this.problems = { audio: audio ? "unsupported" : null, video: video ? "unsupported" : null };
      return this.problems;
    }
    if (audio && video) {
      try {
        const stream = await navigator.mediaDevices.getUserMedia({
          audio: this.constraints("audio", this.audioDeviceId), video: this.constraints("video", this.videoDeviceId),
        });
        this.adopt(stream);
        return this.problems;
      } catch {
        // One of the two may still work on its own: ask for each separately below.
      }
    }
    if (audio) await this.openKind("audio");
    if (video) await this.openKind("video");
    return this.problems;
  }

  async openKind(kind) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ [kind]: this.constraints(kind, this.deviceId(kind)) });
      this.adopt(stream);
      this.problems[kind] = null;
      return true;
    } catch (err) {
      this.problems[kind] = problemOf(err);
      return false;
    }
  }

  deviceId(kind) {
    return kind === "audio" ? this.audioDeviceId : this.videoDeviceId;
  }

  adopt(stream) {
    for (const track of stream.getTracks()) {
      const kind = track.kind;
      const old = kind === "audio" ? this.audioTrack : this.videoTrack;
      if (old && old !== track) old.stop();
      if (kind === "audio") {
        this.audioTrack = track;
        track.enabled = this.micOn;
        this.audioDeviceId = track.getSettings().deviceId || this.audioDeviceId;
        this.connectMeter();
      } else {
        this.videoTrack = track;
        this.videoDeviceId = track.getSettings().deviceId || this.videoDeviceId;
      }
      track.addEventListener("ended", () => this.trackEnded(track));
    }
    this.emitChange();
  }

  trackEnded(track) {
    // The device went away (unplugged, taken by another app, or stopped by the system).
    if (track === this.audioTrack) this.audioTrack = null;
    else if (track === this.videoTrack) this.videoTrack = null;
    else return;
    this.emitChange();
  }

  /** Cameras and microphones by name (names are empty until access was granted once). */
  async devices() {
    if (!LocalMedia.supported || !navigator.mediaDevices.enumerateDevices) return { audio: [], video: [] };
    const list = await navigator.mediaDevices.enumerateDevices();
    const pick = (kind) => list.filter((d) => d.kind === kind && d.deviceId)
      .map((d) => ({ deviceId: d.deviceId, label: d.label }));
    return { audio: pick("audioinput"), video: pick("videoinput") };
  }

  async useDevice(kind, deviceId) {
    if (kind === "audio") this.audioDeviceId = deviceId;
    else this.videoDeviceId = deviceId;
    if (kind === "video" && !this.videoTrack) return true; // used when the camera is turned on
    return this.openKind(kind);
  }

  setMic(on) {
    this.micOn = on;
    if (this.audioTrack) this.audioTrack.enabled = on;
  }

  async startCamera() {
    if (this.videoTrack && this.videoTrack.readyState === "live") return true;
    return this.openKind("video");
  }

  /** Release the camera (its light goes off), unlike disabling the track. */
  stopCamera() {
    if (!this.videoTrack) return;
    this.videoTrack.stop();
    this.videoTrack = null;
    this.emitChange();
  }

  stream() {
    return new MediaStream([this.audioTrack, this.videoTrack].filter(Boolean));
  }

  // ---- microphone level -----------------------------------------------------------------

  connectMeter() {
    if (!this.audioTrack || !globalThis.AudioContext) return;
    try {
      if (!this.audioContext) this.audioContext = new AudioContext();
      if (this.source) this.source.disconnect();
      this.analyser = this.audioContext.createAnalyser();
      this.analyser.fftSize = 512;
      this.samples = new Float32Array(this.analyser.fftSize);
      this.source = this.audioContext.createMediaStreamSource(new MediaStream([this.audioTrack]));
      this.source.connect(this.analyser);
    } catch {
      this.analyser = null;
    }
  }

  /** Browsers start audio suspended until the person interacts with the page. */
  resumeAudio() {
    if (this.audioContext && this.audioContext.state === "suspended") this.audioContext.resume().catch(() => {});
  }

  /** The microphone's loudness now, 0 to 1 (0 while muted). */
  level() {
    if (!this.analyser || !this.audioTrack || !this.audioTrack.enabled) return 0;
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const v of this.samples) sum += v * v;
    const rms = Math.sqrt(sum / this.samples.length);
    return Math.min(1, rms * 5);
  }

  stop() {
    for (const track of [this.audioTrack, this.videoTrack]) if (track) track.stop();
    this.audioTrack = null;
    this.videoTrack = null;
    if (this.audioContext) this.audioContext.close().catch(() => {});
    this.audioContext = null;
    this.analyser = null;
  }
}
