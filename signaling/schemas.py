"""One schema per client → server event, validated before any handler runs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from server.domain.minutes import MinutesIn

MAX_SDP = 64 * 1024
MAX_CANDIDATE = 2048
MAX_CHAT = 2000
Pid = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Reason = Annotated[str, StringConstraints(max_length=200)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class JoinIn(Payload):
    resume_token: Annotated[str, StringConstraints(max_length=64)] | None = None
    last_seq: int | None = Field(default=None, ge=0)


class EmptyIn(Payload):
    pass


class SyncIn(Payload):
    after_seq: int = Field(ge=0)


class AdmitIn(Payload):
    pids: list[Pid] | None = Field(default=None, max_length=50, description="omit to admit everyone waiting")


class DenyIn(Payload):
    pid: Pid
    reason: Reason = ""


class RemoveIn(Payload):
    pid: Pid
    reason: Reason = ""


class MuteIn(Payload):
    pid: Pid
    kind: Literal["audio", "video"] = "audio"


class EndIn(Payload):
    reason: Reason = ""


class IceCandidate(Payload):
    candidate: Annotated[str, StringConstraints(max_length=MAX_CANDIDATE)]
    sdpMid: Annotated[str, StringConstraints(max_length=64)] | None = None
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=64)
    usernameFragment: Annotated[str, StringConstraints(max_length=256)] | None = None


class SignalIn(Payload):
    to: Pid
    type: Literal["offer", "answer", "candidate"]
    sdp: Annotated[str, StringConstraints(max_length=MAX_SDP)] | None = None
    candidate: IceCandidate | None = None

    @model_validator(mode="after")
    def _one_body(self) -> SignalIn:
        if self.type == "candidate":
            if self.candidate is None or self.sdp is not None:
                raise ValueError("a candidate signal carries `candidate` and no `sdp`")
        elif self.sdp is None or self.candidate is not None or not self.sdp.strip():
            raise ValueError(f"an {self.type} signal carries `sdp` and no `candidate`")
        return self


class ChatSendIn(Payload):
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CHAT)]
    to: Pid | None = None

    @model_validator(mode="after")
    def _not_blank(self) -> ChatSendIn:
        if not self.text.strip():
            raise ValueError("text must not be blank")
        return self


class ChatHistoryIn(Payload):
    before: Annotated[str, StringConstraints(max_length=36)] | None = None
    limit: int = Field(default=50, ge=1, le=100)


# ---- minutes and the rights notice ----------------------------------------------------------


class MinutesSaveIn(Payload):
    base_revision: int = Field(ge=0, le=10**9)
    save_id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    document: MinutesIn


class NoticeAcknowledgeIn(Payload):
    notice_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    language: Literal["zh", "en"] = "zh"  # the language the notice was read in, kept with the acknowledgement


# ---- recording ------------------------------------------------------------------------------


class RecordingConsentIn(Payload):
    consent: StrictBool  # a real true or false: "yes" or 1 is not an answer a court can rely on
    language: Literal["zh", "en"] = "zh"  # the language the prompt was shown in, kept with the answer


class RecordingStopIn(Payload):
    reason: Reason = ""


# What the recorder worker sends (its own connections only; participants cannot).


class SegmentIn(Payload):
    pid: Pid
    kind: Literal["audio", "video"]
    codec: Annotated[str, StringConstraints(max_length=16)]
    track: Annotated[str, StringConstraints(max_length=100)]
    index: int = Field(ge=0)
    path: Annotated[str, StringConstraints(min_length=1, max_length=400)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    bytes: int = Field(ge=1)
    frames: int = Field(ge=0)
    duration_s: float = Field(ge=0)
    first_wallclock: float = Field(gt=0)
    first_rtp_ts: int = Field(ge=0)
    sender_reports: list[dict[str, float | int]] = Field(default_factory=list, max_length=200)


class RecorderFailedIn(Payload):
    code: Literal["disk_full", "disk_error", "error", "track_error"]  # track_error: one track lost, recording goes on
    message: Annotated[str, StringConstraints(max_length=500)] = ""
    pid: Pid | None = None
