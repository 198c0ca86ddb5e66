"""One participant's track as one file (recordings/tracks.py): placed on the wall clock with its
gaps kept (pure), and remuxed by a real ffmpeg from real segments without transcoding, cached,
made again when its segments change, and never made from a file that does not match the log."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from recordings import tracks
from recordings.segments import FinishedSegment
from recordings.tracks import GAP_SECONDS, Gap, GapReason, Span, TrackError, plan, track_id

from .recorded import write_track

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Seg:
    path: str
    start: float
    duration_s: float
    index: int = 0
    pid: str = "a:m"
    kind: str = "video"
    sha256: str = "0" * 64
    deleted_at: datetime | None = None

    @property
    def first_wallclock(self) -> datetime:
        return T0 + timedelta(seconds=self.start)


def test_segments_that_follow_each_other_make_one_span_and_the_track_starts_at_the_first() -> None:
    p = plan([Seg("b", 1.0, 1.0, 1), Seg("a", 0.0, 1.0, 0), Seg("c", 2.0, 0.5, 2)])
    assert p.start == T0.timestamp()
    assert [f.path for f in p.files] == ["a", "b", "c"]
    assert [(f.offset, round(f.seconds, 6)) for f in p.files] == [(0.0, 1.0), (1.0, 1.0), (2.0, 0.5)]
    assert p.spans == (Span(T0.timestamp(), T0.timestamp() + 2.5, 0.0),)
    assert p.gaps == ()


def test_a_pause_stays_a_gap_in_the_file_and_on_the_timeline() -> None:
    p = plan([Seg("a", 0.0, 2.0), Seg("b", 6.0, 1.0, 0)])
    t0 = T0.timestamp()
    # The concat demuxer's duration of the first file reaches to the second: its media starts at 6 s.
    assert [(f.offset, f.seconds) for f in p.files] == [(0.0, 6.0), (6.0, 1.0)]
    assert p.spans == (Span(t0, t0 + 2.0, 0.0), Span(t0 + 6.0, t0 + 7.0, 6.0))
    assert p.gaps == (Gap(t0 + 2.0, t0 + 6.0, GapReason.not_recorded),)


def test_a_segment_arriving_a_little_early_is_moved_to_the_previous_end_without_drift() -> None:
    """Wall clocks of arrival wobble by milliseconds; timestamps must grow; each segment is placed
    anew by its own clock, so the wobble never adds up."""
    p = plan([Seg("a", 0.0, 1.0, 0), Seg("b", 0.995, 1.0, 1), Seg("c", 2.004, 1.0, 2), Seg("d", 2.999, 1.0, 3)])
    assert [round(f.offset, 6) for f in p.files] == [0.0, 1.0, 2.004, 3.004]
    assert len(p.spans) == 1 and p.gaps == ()
    assert round(p.spans[0].end - T0.timestamp(), 6) == 4.004


def test_holes_shorter_than_the_threshold_are_not_gaps_but_stay_in_the_file() -> None:
    p = plan([Seg("a", 0.0, 1.0, 0), Seg("b", 1.0 + GAP_SECONDS / 2, 1.0, 1)])
    assert len(p.spans) == 1 and p.gaps == ()
    assert p.files[1].offset == 1.0 + GAP_SECONDS / 2


def test_a_deleted_missing_or_altered_segment_is_left_out_and_its_place_says_why() -> None:
    t0 = T0.timestamp()
    segs = [
        Seg("a", 0.0, 1.0, 0, deleted_at=T0),
        Seg("b", 1.0, 1.0, 1),
        Seg("c", 2.0, 1.0, 2),
        Seg("d", 3.0, 1.0, 3),
        Seg("e", 4.0, 1.0, 4),
    ]
    p = plan(segs, {"c": GapReason.altered, "e": GapReason.missing})
    assert [f.path for f in p.files] == ["b", "d"]
    assert p.start == t0 + 1.0, "the file starts with the first segment it holds"
    assert p.spans == (Span(t0 + 1.0, t0 + 2.0, 0.0), Span(t0 + 3.0, t0 + 4.0, 2.0))
    assert p.gaps == (
        Gap(t0, t0 + 1.0, GapReason.deleted),
        Gap(t0 + 2.0, t0 + 3.0, GapReason.altered),
        Gap(t0 + 4.0, t0 + 5.0, GapReason.missing),
    )


def test_a_track_with_nothing_usable_is_all_gap() -> None:
    p = plan([Seg("a", 0.0, 1.0, deleted_at=T0), Seg("b", 1.0, 1.0, 1, deleted_at=T0)])
    assert p.start is None and p.files == () and p.spans == ()
    assert p.gaps == (Gap(T0.timestamp(), T0.timestamp() + 2.0, GapReason.deleted),)
    assert plan([]) == tracks.Plan(None, (), (), ())


def test_the_concat_list_quotes_paths() -> None:
    p = plan([Seg("recordings/c/s/it's.webm", 0.0, 1.0)])
    assert "file '/data/recordings/c/s/it'\\''s.webm'" in p.concat_list(Path("/data"))


def test_a_tracks_id_is_stable_and_names_its_session_participant_and_kind() -> None:
    assert track_id("s", "a:m", "video") == track_id("s", "a:m", "video")
    assert len({track_id("s", "a:m", "video"), track_id("s", "a:m", "audio"), track_id("s2", "a:m", "video")}) == 3


# ---- real files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Logged:
    """A written segment as the log holds it."""

    pid: str
    kind: str
    index: int
    path: str
    sha256: str
    first_wallclock: datetime
    duration_s: float
    deleted_at: datetime | None = None


async def logged(data_dir: Path, stem: str, kind: str, start: float, seconds: float) -> list[Logged]:
    folder = data_dir / "recordings" / "c1" / "s1"
    folder.mkdir(parents=True, exist_ok=True)
    written: list[FinishedSegment] = await write_track(folder, stem, kind, T0 + timedelta(seconds=start), seconds)
    return [
        Logged(
            "a:m",
            kind,
            s.index,
            s.path.relative_to(data_dir).as_posix(),
            s.sha256,
            datetime.fromtimestamp(s.first_packet_at, UTC),
            s.duration_seconds,
        )
        for s in written
    ]


def packets(path: Path) -> list[tuple[float, bool, bytes]]:
    with av.open(str(path)) as container:
        stream = container.streams[0]
        return [
            (float(p.pts * p.time_base), p.is_keyframe, bytes(p))
            for p in container.demux(stream)
            if p.pts is not None and p.size
        ]


async def test_a_video_track_is_remuxed_without_transcoding_and_keeps_its_gap(tmp_path: Path) -> None:
    data = tmp_path / "data"
    segs = await logged(data, "m-c1-video", "video", 0.0, 2.0) + await logged(data, "m-c2-video", "video", 5.0, 1.5)
    made = await tracks.ensure(data, "c1", "s1", "a:m", "video", segs)
    assert made.path is not None and made.path.is_relative_to(data / "cache" / "tracks" / "c1" / "s1")
    assert made.path.name == f"{made.id}.webm" and made.content_type == "video/webm"
    assert made.sha256 == hashlib.sha256(made.path.read_bytes()).hexdigest() and made.bytes == made.path.stat().st_size
    assert made.segments == len(segs)
    assert [
        (round(s.start - T0.timestamp(), 3), round(s.end - T0.timestamp(), 3), s.media_start) for s in made.spans
    ] == [
        (0.0, 2.0, 0.0),
        (5.0, 6.5, 5.0),
    ]
    assert [(round(g.start - T0.timestamp(), 3), round(g.end - T0.timestamp(), 3), g.reason) for g in made.gaps] == [
        (2.0, 5.0, "not_recorded")
    ]
    out = packets(made.path)
    times = [t for t, _, _ in out]
    assert times == sorted(times)
    assert max(b - a for a, b in zip(times, times[1:])) == pytest.approx(5.0 - 2.0 + 1 / 30, abs=0.01), "the gap stays"
    assert times[0] == 0.0 and out[0][1], "starts on a keyframe at 0"
    assert times[-1] == pytest.approx(6.5 - 1 / 30, abs=0.01)
    # Copied, not re-encoded: every frame of every segment is in the file, byte for byte.
    source = [frame for seg in segs for _, _, frame in packets(data / seg.path)]
    assert [frame for _, _, frame in out] == source


async def test_an_audio_track_is_one_opus_webm_with_its_timeline(tmp_path: Path) -> None:
    data = tmp_path / "data"
    segs = await logged(data, "m-c1-audio", "audio", 0.02, 2.0)
    made = await tracks.ensure(data, "c1", "s1", "a:m", "audio", segs)
    assert made.content_type == "audio/webm" and made.path is not None
    with av.open(str(made.path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
    assert len(made.spans) == 1 and made.gaps == ()
    assert made.start == pytest.approx(T0.timestamp() + 0.02)


async def test_the_file_is_made_once_then_again_only_when_its_segments_change(tmp_path: Path) -> None:
    data = tmp_path / "data"
    segs = await logged(data, "m-c1-video", "video", 0.0, 1.5)
    first = await tracks.ensure(data, "c1", "s1", "a:m", "video", segs)
    assert first.path is not None
    stamp = first.path.stat().st_mtime_ns
    again = await tracks.ensure(data, "c1", "s1", "a:m", "video", segs)
    assert again == first and first.path.stat().st_mtime_ns == stamp, "served from the cache"
    more = segs + await logged(data, "m-c2-video", "video", 3.0, 1.0)
    grown = await tracks.ensure(data, "c1", "s1", "a:m", "video", more)
    assert grown.sha256 != first.sha256 and grown.segments == len(more) and len(grown.gaps) == 1
    # Retention deleted the first segments: made again without them; their place is a gap that says so.
    deleted = [replace(s, deleted_at=T0) if s in segs else s for s in more]
    pruned = await tracks.ensure(data, "c1", "s1", "a:m", "video", deleted)
    assert pruned.segments == len(more) - len(segs)
    assert [g.reason for g in pruned.gaps] == ["deleted", "not_recorded"]
    # Everything deleted: no file; the pause between the runs is still told apart from the deletions.
    gone = await tracks.ensure(data, "c1", "s1", "a:m", "video", [replace(s, deleted_at=T0) for s in more])
    assert gone.path is None and gone.sha256 is None and gone.spans == ()
    assert [g.reason for g in gone.gaps] == ["deleted", "not_recorded", "deleted"]
    assert not (data / "cache" / "tracks" / "c1" / "s1" / f"{gone.id}.webm").exists()


async def test_a_file_that_no_longer_matches_its_hash_or_is_gone_is_left_out(tmp_path: Path) -> None:
    data = tmp_path / "data"
    segs = await logged(data, "m-c1-video", "video", 0.0, 3.0)
    assert len(segs) == 4  # cut at the keyframes asked for from 80 % of a second on
    altered = data / segs[1].path
    altered.write_bytes(altered.read_bytes()[:-1] + b"\x00")
    (data / segs[3].path).unlink()
    made = await tracks.ensure(data, "c1", "s1", "a:m", "video", segs)
    assert made.segments == 2
    assert [g.reason for g in made.gaps] == ["altered", "missing"]
    assert [len(s) for s in (made.spans,)] == [2]


async def test_builders_of_one_track_take_turns_and_agree(tmp_path: Path) -> None:
    data = tmp_path / "data"
    segs = await logged(data, "m-c1-video", "video", 0.0, 2.0)
    made = await asyncio.gather(*(tracks.ensure(data, "c1", "s1", "a:m", "video", segs) for _ in range(4)))
    assert len({m.sha256 for m in made}) == 1
    folder = data / "cache" / "tracks" / "c1" / "s1"
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".lock", ".webm"], "no leftovers"


async def test_a_failing_ffmpeg_is_a_track_error_and_leaves_nothing_behind(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = data / "recordings" / "c1" / "s1"
    folder.mkdir(parents=True)
    bad = folder / "m-c1-video-00000.webm"
    bad.write_bytes(b"this is not a webm file")
    seg = Logged(
        "a:m", "video", 0, bad.relative_to(data).as_posix(), hashlib.sha256(bad.read_bytes()).hexdigest(), T0, 1.0
    )
    with pytest.raises(TrackError):
        await tracks.ensure(data, "c1", "s1", "a:m", "video", [seg])
    with pytest.raises(TrackError, match="cannot run ffmpeg"):
        await tracks.ensure(data, "c1", "s1", "a:m", "video", [seg], ffmpeg=str(tmp_path / "no-ffmpeg"))
    cache = data / "cache" / "tracks" / "c1" / "s1"
    assert [p.suffix for p in cache.iterdir()] == [".lock"]
