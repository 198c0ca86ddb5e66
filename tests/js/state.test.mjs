// The room state the client keeps (web/static/js/room/state.js): reduce(state, event) for every
// room.event type and the snapshot, and what the page reads off the state.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  RECORDING_OFF, beingRecorded, consentNeeded, initialRoomState, mergeMessages, orderedParticipants,
  recorderRun, reduce,
} from "../../web/static/js/room/state.js";

const CONSENTING = ["applicant", "respondent", "agent", "expert"];
const person = (pid, role, extra = {}) => ({
  pid, name: pid.toUpperCase(), role, state: "admitted", connected: true, publishing: false, ...extra,
});
const MEDIATOR = person("m", "mediator");
const APPLICANT = person("a", "applicant");

function snapshot(room = {}) {
  return reduce(initialRoomState(), {
    type: "snapshot",
    data: { seq: 5, pseq: 3, you: APPLICANT, max_publishers: 6, participants: [MEDIATOR, APPLICANT],
            consenting_roles: CONSENTING, ...room },
  });
}

const event = (type, data) => ({ seq: 9, pseq: 4, type, data });

describe("a snapshot", () => {
  it("is the whole room this participant may see", () => {
    const s = snapshot({ recording: { state: "on", recording_id: "r1", recorded: ["m"], your_consent: null } });
    assert.deepEqual(s.me, APPLICANT);
    assert.deepEqual([...s.participants.keys()], ["m", "a"]);
    assert.equal(s.lobby.size, 0);
    assert.equal(s.lobbyReason, null);
    assert.equal(s.maxPublishers, 6);
    assert.deepEqual(s.recording, { ...RECORDING_OFF, state: "on", recording_id: "r1", recorded: ["m"] });
    assert.deepEqual([...s.consentingRoles], CONSENTING);
  });

  it("replaces what was known, roster and all", () => {
    const before = snapshot();
    const after = reduce(before, { type: "snapshot", data: { seq: 9, pseq: 8, you: { ...APPLICANT, state: "lobby" },
                                                             lobby_reason: "waiting_for_mediator", consenting_roles: CONSENTING } });
    assert.equal(after.participants.size, 0);
    assert.equal(after.me.state, "lobby");
    assert.equal(after.lobbyReason, "waiting_for_mediator");
    assert.deepEqual(after.recording, RECORDING_OFF);
    assert.equal(before.participants.size, 2, "the old state is untouched");
  });

  it("keeps the consents and the consenting roles it does not carry", () => {
    const mediator = reduce(initialRoomState(), {
      type: "snapshot",
      data: { seq: 1, pseq: 1, you: MEDIATOR, participants: [MEDIATOR], lobby: [], consenting_roles: ["expert"],
              recording_consents: { consents: { a: "granted" }, pending: ["r"] } },
    });
    assert.deepEqual(mediator.recordingConsents, { consents: { a: "granted" }, pending: ["r"] });
    const later = reduce(mediator, { type: "snapshot", data: { seq: 2, pseq: 2, you: MEDIATOR, participants: [MEDIATOR] } });
    assert.deepEqual(later.recordingConsents, mediator.recordingConsents);
    assert.deepEqual([...later.consentingRoles], ["expert"]);
  });

  it("asks nobody for consent until the server has named the roles", () => {
    assert.equal(initialRoomState().consentingRoles.size, 0);
  });
});

describe("room events", () => {
  it("add whoever joins, taking them out of the lobby", () => {
    const s = reduce(snapshot({ lobby: [person("r", "respondent", { state: "lobby" })] }),
      event("participant.joined", { participant: person("r", "respondent") }));
    assert.deepEqual([...s.participants.keys()], ["m", "a", "r"]);
    assert.equal(s.lobby.size, 0);
    assert.equal(s.me.state, "admitted");
  });

  it("admit this participant when it is the one who joins from the lobby", () => {
    const waiting = snapshot({ you: { ...APPLICANT, state: "lobby" }, participants: undefined, lobby_reason: "waiting_for_admission" });
    const s = reduce(waiting, event("participant.joined", { participant: APPLICANT }));
    assert.equal(s.me.state, "admitted");
    assert.equal(s.lobbyReason, null);
    assert.equal(waiting.me.state, "lobby", "the old state is untouched");
  });

  it("take out whoever leaves or is removed, from the room and the lobby", () => {
    let s = snapshot({ lobby: [person("r", "respondent", { state: "lobby" })] });
    s = reduce(s, event("participant.left", { pid: "m" }));
    assert.deepEqual([...s.participants.keys()], ["a"]);
    s = reduce(s, event("participant.removed", { pid: "r", reason: "" }));
    assert.equal(s.lobby.size, 0);
  });

  it("mark a member reconnecting, and put back the participant that reconnected", () => {
    let s = reduce(snapshot(), event("participant.reconnecting", { pid: "m" }));
    assert.equal(s.participants.get("m").connected, false);
    s = reduce(s, event("participant.reconnected", { participant: { ...MEDIATOR, name: "Mediator Wang" } }));
    assert.equal(s.participants.get("m").connected, true);
    assert.equal(s.participants.get("m").name, "Mediator Wang");
    assert.deepEqual([...s.participants.keys()], ["m", "a"], "the roster keeps its order");
  });

  it("say who publishes", () => {
    let s = reduce(snapshot(), event("publisher.added", { pid: "a" }));
    assert.equal(s.participants.get("a").publishing, true);
    s = reduce(s, event("publisher.removed", { pid: "a" }));
    assert.equal(s.participants.get("a").publishing, false);
  });

  it("leave the state alone when they name nobody it knows", () => {
    const s = snapshot();
    for (const type of ["participant.reconnecting", "publisher.added", "publisher.removed", "participant.left"]) {
      assert.equal(reduce(s, event(type, { pid: "nobody" })).participants, s.participants, type);
    }
  });

  it("replace the lobby and its reason", () => {
    let s = reduce(snapshot(), event("lobby.updated", { lobby: [person("r", "respondent", { state: "lobby" })] }));
    assert.deepEqual([...s.lobby.keys()], ["r"]);
    s = reduce(s, event("lobby.status", { reason: "waiting_for_mediator" }));
    assert.equal(s.lobbyReason, "waiting_for_mediator");
  });

  it("replace the recording view whole, without the stop's reason", () => {
    let s = reduce(snapshot(), event("recording.updated", { state: "on", recording_id: "r1", recorder_ready: true, recorded: ["a"], your_consent: "granted" }));
    assert.equal(s.recording.state, "on");
    s = reduce(s, event("recording.updated", { state: "off", recording_id: null, stop_reason: "disk_full" }));
    assert.deepEqual(s.recording, RECORDING_OFF);
  });

  it("replace the answers the mediator sees", () => {
    const s = reduce(snapshot(), event("recording.consents", { consents: { a: "refused" } }));
    assert.deepEqual(s.recordingConsents, { consents: { a: "refused" }, pending: [] });
  });

  it("that are news rather than state change nothing", () => {
    const s = snapshot();
    for (const type of ["chat.message", "mute.requested", "recording.consent_requested", "lobby.denied", "session.ended", "unknown.kind"]) {
      assert.equal(reduce(s, event(type, {})), s, type);
    }
  });
});

describe("consent", () => {
  const asked = (recording, extra = {}) => snapshot({ recording: { state: "waiting_for_consent", recording_id: "r1", your_consent: null, ...recording }, ...extra });

  it("is needed from a role the server names, while recording waits or runs and they have not answered", () => {
    assert.equal(consentNeeded(asked({})), true);
    assert.equal(consentNeeded(asked({ state: "on" })), true);
  });

  it("is not needed once answered, when recording is off, after the end, or from a role not named", () => {
    assert.equal(consentNeeded(asked({ your_consent: "refused" })), false);
    assert.equal(consentNeeded(asked({ state: "off" })), false);
    assert.equal(consentNeeded(asked({}), { final: true }), false);
    assert.equal(consentNeeded(asked({}, { consenting_roles: ["expert"] })), false);
    assert.equal(consentNeeded(asked({}, { you: { ...APPLICANT, state: "lobby" } })), false);
  });
});

describe("sending to the recorder", () => {
  const on = (recording) => snapshot({ recording: { state: "on", recording_id: "r1", recorder_ready: true, recorded: ["a"], your_consent: "granted", ...recording } });

  it("happens while recording is on, the recorder ready, and this participant recorded", () => {
    assert.equal(beingRecorded(on({})), true);
    assert.equal(recorderRun(on({})), "r1");
  });

  it("stops when any of that is missing", () => {
    assert.equal(recorderRun(on({ recorder_ready: false })), null);
    assert.equal(recorderRun(on({ recorded: ["m"] })), null);
    assert.equal(recorderRun(on({ state: "waiting_for_consent" })), null);
    assert.equal(recorderRun(on({}), { final: true }), null);
    assert.equal(recorderRun(initialRoomState()), null);
  });
});

describe("the order people are listed in", () => {
  it("is by role, then by name, with this participant last", () => {
    const s = snapshot({
      participants: [person("o", "observer"), APPLICANT, person("r2", "respondent", { name: "Zhao" }),
                     person("r1", "respondent", { name: "Li" }), person("e", "expert"), MEDIATOR],
    });
    assert.deepEqual(orderedParticipants(s).map((p) => p.pid), ["m", "e", "r1", "r2", "o", "a"]);
  });
});

describe("merging chat", () => {
  const msg = (id, at) => ({ id, at, text: id });

  it("adds each message once, oldest first", () => {
    const first = mergeMessages([], [msg("b", "2026-01-01T10:00:02Z"), msg("a", "2026-01-01T10:00:01Z")]);
    assert.equal(first.added, true);
    assert.deepEqual(first.messages.map((m) => m.id), ["a", "b"]);
    const again = mergeMessages(first.messages, [msg("a", "2026-01-01T10:00:01Z"), msg("c", "2026-01-01T10:00:00Z"), null]);
    assert.deepEqual(again.messages.map((m) => m.id), ["c", "a", "b"]);
  });

  it("says when nothing was new, and keeps the same list", () => {
    const list = [msg("a", "2026-01-01T10:00:01Z")];
    const result = mergeMessages(list, [msg("a", "2026-01-01T10:00:01Z")]);
    assert.equal(result.added, false);
    assert.equal(result.messages, list);
  });
});
