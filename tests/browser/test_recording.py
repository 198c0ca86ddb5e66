"""Recording in real Chromium: the mediator starts it, a party is asked in their language and
answers, everyone sees the indicator, and each consenting browser sends its camera and microphone
to the server's recorder worker (a real subprocess), whose segments decode with PyAV.

A party who refuses is not recorded while the mediator is, and the mediator sees who refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import pytest
from playwright.async_api import Page, expect

from recordings import evidence
from server.config import Settings, load_settings
from tests.browser.room import DESKTOP, PHONE, Person, media_flows, wait_for

PROMPT_ZH = "调解员请求对本次调解录音录像"
PROMPT_EN = "The mediator asks to record this session"

# What this browser's connection to the recorder has sent so far (recorder.js, as window.heshiRoom.recorder).
SENT = """async () => {
  const conn = window.heshiRoom.recorder.conn;
  if (!conn) return null;
  const report = await conn.pc.getStats();
  let video = 0, audio = 0;
  report.forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "video") video += s.framesEncoded || 0;
    if (s.type === "outbound-rtp" && s.kind === "audio") audio += s.packetsSent || 0;
  });
  return {number: conn.number, video, audio, videoTrack: Boolean(conn.transceivers.video.sender.track),
          transceivers: conn.pc.getTransceivers().map((t) => t.direction)};
}"""


@pytest.fixture
def settings(tmp_path: Path, database_url: str, port: int) -> Settings:
    """As tests.support.browser's, with two-second segments, so that a few seconds make several."""
    from tests.conftest import TEST_SECRET

    return load_settings(
        env={},
        data_dir=str(tmp_path / "data"),
        database_url=database_url,
        secret_key=TEST_SECRET,
        public_url=f"http://127.0.0.1:{port}",
        recording_segment_seconds=2,
    )


async def enter(mediator: Person, party: Person, party_name: str) -> None:
    """The mediator joins, the party waits in the lobby and is admitted; media flows both ways."""
    await mediator.join()
    await expect(mediator.page.locator("#stage")).to_be_visible()
    await party.join()
    await mediator.page.locator("#lobby-notice").get_by_role("button", name=f"允许 {party_name} 进入").click()
    await expect(party.page.locator("#stage")).to_be_visible()
    await media_flows([mediator, party], {"mediator": mediator, "party": party})


async def recording_view(page: Page) -> dict[str, Any]:
    return await page.evaluate("window.heshiRoom.client.recording")


async def recorder_state(page: Page) -> str:
    return await page.evaluate("window.heshiRoom.recorder.state")


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams[0]))


async def segments_by_pid(core: Any, session_id: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for seg in await evidence.segments_of(core, session_id):
        found.setdefault(seg.pid, []).append(seg)
    return found


async def wait_for_video_and_audio(
    core: Any, session_id: str, people: list[Person], timeout: float = 45
) -> dict[str, list[Any]]:
    """Until the recorder has logged, for each person, a video segment with frames and an audio segment."""
    pids = [await p.pid() for p in people]

    async def ready() -> dict[str, list[Any]] | None:
        found = await segments_by_pid(core, session_id)
        for pid in pids:
            kinds = {s.kind for s in found.get(pid, []) if s.frames > 0}
            if not {"audio", "video"} <= kinds:
                return None
        return found

    try:
        return await wait_for(ready, timeout, f"recorded segments of {pids}")
    except AssertionError:
        logged = await segments_by_pid(core, session_id)
        found = {pid: [(s.kind, s.frames) for s in segs] for pid, segs in logged.items()}
        seen = [
            f"--- {p.label}: {await recording_view(p.page)}\n"
            + "\n".join(await p.page.evaluate("window.heshiRoom.recorder.trace"))
            for p in people
        ]
        raise AssertionError(f"no segments with frames for all of {pids}: {found}\n" + "\n".join(seen)) from None


def check_segments(core: Any, segments: list[Any]) -> None:
    """Each file is where the log says, VP8 or Opus, and decodes with PyAV."""
    for seg in segments:
        path = Path(core.settings.data_dir) / seg.path
        assert path.is_file(), seg.path
        assert seg.codec == ("vp8" if seg.kind == "video" else "opus"), (seg.kind, seg.codec)
        assert path.stat().st_size == seg.bytes
        frames = decoded_frames(path)
        assert frames > 0, f"{seg.path}: nothing decodes"


async def stop_recording(mediator: Person) -> None:
    mp = mediator.page
    await mp.locator("#record-button").click()
    await expect(mp.locator("#dialog-title")).to_have_text("停止录制？")
    await mp.locator("#dialog-ok").click()
    await expect(mp.locator("#record-button")).to_have_text("录制")


async def test_a_consenting_party_and_the_mediator_are_recorded_until_the_mediator_stops(
    browser, base_url, world, core
):
    links = world.demo.links
    session_id = world.demo.session_id
    mediator = await Person.open(browser, "mediator", links["mediator"], DESKTOP)
    party = await Person.open(browser, "applicant", links["applicant"], PHONE)
    mp, ap = mediator.page, party.page
    await enter(mediator, party, "李秀英")
    mediator_pid, party_pid = await mediator.pid(), await party.pid()

    # Only the mediator has the button; nobody sees an indicator yet.
    await expect(ap.locator("#record-button")).to_have_count(0)
    await expect(mp.locator("#rec-bar")).to_be_hidden()
    await expect(mp.locator("#record-button")).to_have_text("录制")
    await mp.locator("#record-button").click()

    # The party is asked, in Chinese by default, with the keyboard on the question, not an answer.
    dialog = ap.locator("#consent-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("heading")).to_have_text(PROMPT_ZH)
    await expect(dialog).to_contain_text("存入案件档案")
    await expect(ap.locator("#consent-title")).to_be_focused()
    await party.screenshot("recording-consent")
    # The mediator sees who has not answered yet; the recorder gets nothing yet.
    await expect(mp.locator("#rec-text")).to_have_text("正在等待各方同意录制…")
    await expect(mp.locator("#rec-pending")).to_have_text("尚未答复：李秀英")
    await expect(mp.locator("#record-button")).to_have_text("停止录制")
    await mediator.screenshot("recording-waiting")
    assert (await recording_view(mp))["recorded"] == []

    # Escape puts the question aside; the bar offers it again.
    await ap.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(ap.locator("#rec-self")).to_have_text("您尚未答复。")
    await ap.get_by_role("button", name="答复录制请求").click()
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="同意录制").click()
    await expect(dialog).to_be_hidden()

    # Both see the indicator; both send to the recorder.
    for p in (mediator, party):
        await expect(p.page.locator("#rec-bar.on #rec-text")).to_have_text("录制中")
    await expect(ap.locator("#rec-self")).to_have_text("正在录制您的画面和声音。")
    await expect(ap.get_by_role("button", name="停止录制我")).to_be_visible()
    await expect(mp.locator("#rec-consents")).to_be_hidden()  # nobody pending, nobody refused
    assert sorted((await recording_view(mp))["recorded"]) == sorted([mediator_pid, party_pid])
    for p in (mediator, party):
        await wait_for(lambda p=p: _is(recorder_state(p.page), "connected"), 20, f"{p.label}'s recorder connection")
    await party.screenshot("recording-on-party")
    await mediator.screenshot("recording-on-mediator")
    # VP8 and Opus were put first without complaint (recorder.js logs a refused preference).
    for p in (mediator, party):
        trace = await p.page.evaluate("window.heshiRoom.recorder.trace")
        assert not [line for line in trace if "refused" in line or "failed" in line], trace
    # The recorder's connection is separate from the mesh, and never reaches it.
    assert "recorder" not in await mp.evaluate("[...window.heshiRoom.mesh.peers.keys()]")

    # The recorder logs VP8 and Opus segments, with frames, for both of them; they decode.
    found = await wait_for_video_and_audio(core, session_id, [mediator, party])
    check_segments(core, found[mediator_pid] + found[party_pid])
    # The mesh still carries everyone's media meanwhile.
    await media_flows([mediator, party], {"mediator": mediator, "party": party})

    # Audio only: the recorder connection stays (no renegotiation, no new files) and carries no video,
    # then video again.
    before = await ap.evaluate(SENT)
    assert before["transceivers"] == ["sendonly", "sendonly"] and before["videoTrack"], before
    await ap.locator("#audio-only-button").click()
    await wait_for(lambda: _no_video(ap), 10, "the recorder connection to carry no video")
    frozen = await ap.evaluate(SENT)

    async def more_audio_and_no_video() -> dict[str, Any] | None:
        # Audio goes on for half a second more (25 packets of 20 ms); no video frame is sent meanwhile.
        now = await ap.evaluate(SENT)
        assert now is not None, "the recorder connection went away in audio-only mode"
        assert now["video"] == frozen["video"], f"video went to the recorder in audio-only mode: {frozen} -> {now}"
        return now if now["audio"] >= frozen["audio"] + 25 else None

    later = await wait_for(more_audio_and_no_video, 10, "half a second more of audio to the recorder")
    assert later["number"] == before["number"], "audio only must not make a new recorder connection"
    await ap.locator("#audio-only-button").click()
    await wait_for(lambda: _video_grows(ap, later["video"]), 10, "video to the recorder again")
    assert (await ap.evaluate(SENT))["number"] == before["number"]

    # The party changes their mind: they leave `recorded` and close their recorder connection.
    await ap.get_by_role("button", name="停止录制我").click()
    await expect(ap.locator("#rec-self")).to_have_text("您未被录制。")
    await expect(ap.get_by_role("button", name="允许录制我")).to_be_visible()
    await wait_for(lambda: _is(recorder_state(ap), "off"), 10, "the party's recorder connection to close")
    await expect(mp.locator("#rec-refused")).to_have_text("已拒绝，不录制：李秀英")
    assert (await recording_view(mp))["recorded"] == [mediator_pid]
    assert await recorder_state(mp) == "connected"

    # The mediator stops: the indicator goes away for both, and so do the recorder connections.
    await stop_recording(mediator)
    for p in (mediator, party):
        await expect(p.page.locator("#rec-bar")).to_be_hidden()
        await wait_for(lambda p=p: _is(recorder_state(p.page), "off"), 10, f"{p.label}'s recorder connection to close")
    await expect(mp.locator("#rec-consents")).to_be_hidden()
    await mediator.screenshot("recording-stopped")

    errors = mediator.errors + party.errors
    assert errors == [], errors
    for p in (mediator, party):
        await p.close()


async def test_a_party_who_refuses_is_not_recorded_and_the_mediator_sees_it(browser, base_url, world, core):
    links = world.demo.links
    session_id = world.demo.session_id
    mediator = await Person.open(browser, "mediator", links["mediator"], PHONE)
    party = await Person.open(browser, "applicant", links["applicant"], PHONE)
    mp, ap = mediator.page, party.page
    await enter(mediator, party, "李秀英")
    mediator_pid, party_pid = await mediator.pid(), await party.pid()

    await mp.locator("#record-button").click()
    dialog = ap.locator("#consent-dialog")
    await expect(dialog.get_by_role("heading")).to_have_text(PROMPT_ZH)
    # The party reads English: the page comes back in English, in the same seat, and asks again.
    await dialog.get_by_role("link", name="English").click()
    await expect(ap.locator("#stage")).to_be_visible(timeout=15000)
    assert await party.pid() == party_pid
    await expect(dialog.get_by_role("heading")).to_have_text(PROMPT_EN)
    await expect(dialog).to_contain_text("for the case file")
    await party.screenshot("recording-consent-en")
    await dialog.get_by_role("button", name="Refuse").click()
    await expect(dialog).to_be_hidden()

    # Recording runs, for the mediator only; the party is told they are not recorded.
    for p in (mediator, party):
        await expect(p.page.locator("#rec-bar.on")).to_be_visible()
    await expect(ap.locator("#rec-text")).to_have_text("Recording")
    await expect(ap.locator("#rec-self")).to_have_text("You are not being recorded.")
    await expect(ap.get_by_role("button", name="Allow recording me")).to_be_visible()
    await expect(mp.locator("#rec-refused")).to_have_text("已拒绝，不录制：李秀英")
    await expect(mp.locator("#rec-pending")).to_be_hidden()
    assert (await recording_view(mp))["recorded"] == [mediator_pid]
    assert (await recording_view(ap))["your_consent"] == "refused"
    await mediator.screenshot("recording-refused-mediator")
    await party.screenshot("recording-refused-party")

    found = await wait_for_video_and_audio(core, session_id, [mediator])
    check_segments(core, found[mediator_pid])
    # A bounded negative check, its window closed by something that must happen: while the
    # mediator's recorder starts and finishes a whole segment more (two past the last one logged;
    # the one in between was open when the window began), nothing of the party is logged.
    last = max(s.index for s in found[mediator_pid] if s.kind == "video")

    async def a_whole_segment_more() -> bool:
        logged = await segments_by_pid(core, session_id)
        assert party_pid not in logged, f"the party who refused was recorded: {logged[party_pid]}"
        return any(s.kind == "video" and s.index >= last + 2 for s in logged.get(mediator_pid, []))

    await wait_for(a_whole_segment_more, 20, "the mediator's recorder to log a whole segment more")
    assert await recorder_state(ap) == "off"
    summary = await evidence.summary(core, session_id)
    assert [(c["pid"], c["decision"], c["language"]) for c in summary["consents"]] == [(party_pid, "refused", "en")]

    await stop_recording(mediator)
    for p in (mediator, party):
        await expect(p.page.locator("#rec-bar")).to_be_hidden()
    await expect(ap.locator("#toasts")).to_contain_text("Recording has stopped.")

    # When the recorder gives up (here a stop as recording.updated reports it, handed to the page's
    # client: a full disk cannot be made on demand here), the mediator is told why, until closed.
    await mp.evaluate("""() => {
      const c = window.heshiRoom.client;
      c.setRecording({...c.recording, state: "on", recording_id: "r-test"});
      c.setRecording({...c.recording, state: "off", recording_id: null, stop_reason: "disk_full"});
    }""")
    alert = mp.locator("#rec-alert")
    await expect(alert).to_be_visible()
    await expect(alert).to_contain_text("录制已停止：服务器磁盘已满。此前录制的内容已保存。")
    await expect(mp.locator("#toasts .toast")).to_have_count(0, timeout=10000)  # a clear picture
    await mediator.screenshot("recording-disk-full")
    await alert.get_by_role("button", name="关闭").click()
    await expect(alert).to_be_hidden()
    errors = mediator.errors + party.errors
    assert errors == [], errors
    for p in (mediator, party):
        await p.close()


async def _is(value: Any, expected: Any) -> bool:
    return (await value) == expected


async def _no_video(page: Page) -> bool:
    sent = await page.evaluate(SENT)
    return bool(sent) and not sent["videoTrack"]


async def _video_grows(page: Page, since: int) -> bool:
    """The recorder connection has a video track again, and has encoded frames past `since`."""
    sent = await page.evaluate(SENT)
    return bool(sent and sent["videoTrack"] and sent["video"] > since)
