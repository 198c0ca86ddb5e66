"""The composite download's labelled grid (issue 12): who is who, in a layout for 2 to 6
people, with the Beijing time burnt in.

The filter graph is a pure function of the plan, the labels, the font and the start, and is
checked as text; real composites are made by ffmpeg from real segments (tests/retention/
recorded.py writes them with the recorder's own segment writer and reports them to the
evidence log) and checked with ffprobe and by looking at the pixels of each cell.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from recordings import composite
from recordings.composite import CjkFont, FontMissing, Label, Track, filter_graph, find_cjk_font, grid, size_of, tiles
from server.domain.actors import Actor, SystemReason
from server.services.core import Core
from server.storage.models import CaseEvent
from tests.conftest import World
from tests.retention.recorded import people, record_session

START = datetime(2026, 12, 5, 1, 15, 5, tzinfo=UTC)  # 09:15:05 in Beijing
FONT = CjkFont(Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2, "Noto Sans CJK SC")
CLI = Actor.system(SystemReason.cli)


def track(pid: str, kind: str, offset: float = 0.0) -> Track:
    return Track(pid, kind, offset, [(Path(f"/d/{pid}-{kind}.webm"), 2.0)])


# ---- the layout, pure -------------------------------------------------------------------------


def test_two_people_sit_side_by_side_three_or_four_in_two_rows_five_or_six_in_three_columns() -> None:
    assert [grid(n) for n in range(1, 7)] == [(1, 1), (2, 1), (2, 2), (2, 2), (3, 2), (3, 2)]
    assert [size_of(n) for n in (2, 4, 6)] == [(1280, 480), (1280, 960), (1920, 960)]
    assert grid(7) == (3, 3) and grid(10) == (4, 3), "more than the mesh allows still makes a grid, not a row"


def test_the_mediator_comes_first_then_the_parties_each_labelled_with_name_and_role_in_chinese() -> None:
    tracks = [
        track("i:resp", "video", 0.5),
        track("i:resp", "audio", 0.5),
        track("i:app", "audio", 0.2),  # heard, never seen
        track("a:med", "video", 1.0),
        track("i:exp", "video", 0.0),
        track("i:unknown", "video", 0.0),
    ]
    labels = {
        "a:med": Label("王建国", "mediator"),
        "i:app": Label("李秀英", "applicant"),
        "i:resp": Label("赵院长", "respondent"),
        "i:exp": Label("陈敏医生", "expert"),
    }
    placed = tiles(tracks, labels)
    assert [(t.pid, t.label) for t in placed] == [
        ("a:med", "王建国（调解员）"),
        ("i:app", "李秀英（申请人）"),
        ("i:resp", "赵院长（被申请人）"),
        ("i:exp", "陈敏医生（专家）"),
        ("i:unknown", "i:unknown"),  # nobody named them: their participant id, never a guess
    ]
    assert [(t.x, t.y) for t in placed] == [(0, 0), (640, 0), (1280, 0), (0, 480), (640, 480)]
    assert [t.video for t in placed] == [3, None, 0, 4, 5]
    assert Label("欧阳" * 20, "agent").text() == "欧阳" * 11 + "欧…（代理人）", "a long name is cut"


def drawn_texts(graph: str) -> list[str]:
    """The text of every drawtext in a graph, unescaped as ffmpeg's parser does it, level by
    level (ffmpeg-filters, "Notes on filtergraph escaping"; libavutil's av_get_token)."""
    return [_token(_token(part, ",;["), ":") for part in graph.split("drawtext=text=")[1:]]


def _token(text: str, ends: str) -> str:
    """One token: a backslash takes the next character as it is, quotes keep what is between
    them, and an unquoted character of `ends` ends it."""
    out, quoted, i = "", False, 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "'":
                quoted = False
            else:
                out += ch
        elif ch == "\\" and i + 1 < len(text):
            i += 1
            out += text[i]
        elif ch == "'":
            quoted = True
        elif ch in ends:
            break
        else:
            out += ch
        i += 1
    return out


def test_the_filter_graph_draws_every_name_with_its_role_and_the_beijing_time() -> None:
    tracks = [track(f"i:p{n}", kind, n / 10) for n in range(5) for kind in ("video", "audio")]
    labels = {
        f"i:p{n}": Label(name, role)
        for n, (name, role) in enumerate(
            [
                ("王建国", "mediator"),
                ("李秀英", "applicant"),
                ("赵院长", "respondent"),
                ("陈敏医生", "expert"),
                ("张律师", "agent"),
            ]
        )
    }
    graph, maps = filter_graph(tracks, 3.0, labels=labels, font=FONT, start=START)
    assert drawn_texts(graph) == [
        "王建国（调解员）",
        "李秀英（申请人）",
        "赵院长（被申请人）",
        "张律师（代理人）",
        "陈敏医生（专家）",
        f"北京时间 %{{pts:gmtime:{START.timestamp() + 8 * 3600:.3f}}}",
    ]
    assert graph.count("expansion=none") == 5, "names are drawn verbatim, never expanded"
    assert graph.count("expansion=normal") == 1, "only the clock is"
    assert "xstack=inputs=5:layout=0_0|640_0|1280_0|0_480|640_480:fill=black[grid]" in graph
    assert "font=\\'Noto Sans CJK SC\\'" in graph, "the Simplified Chinese face, by family"
    assert "amix=inputs=5" in graph
    assert maps == ["-map", "[vout]", "-map", "[aout]"]
    # A face that is first in its file is loaded by path.
    first = CjkFont(Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0, "WenQuanYi Zen Hei")
    assert (
        "fontfile=\\'/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc\\'"
        in filter_graph(tracks, 3.0, labels=labels, font=first, start=START)[0]
    )


NASTY = "O'B: 张,三;[x]\\y %{n}%"  # every character the graph, its options or drawtext treat specially


def test_a_name_with_quotes_colons_commas_and_percent_signs_stays_text() -> None:
    graph, _ = filter_graph(
        [track("i:x", "video")], 1.0, labels={"i:x": Label(NASTY, "observer")}, font=FONT, start=START
    )
    assert drawn_texts(graph)[0] == NASTY + "（旁听人员）"


def render(font: CjkFont, text_option: str, out: Path) -> str:
    """One frame with a drawtext, and its MD5 as ffmpeg computes it."""
    graph = (
        f"color=c=black:s=640x120:d=0.1,drawtext={text_option}:{font.drawtext_options()}:fontsize=28:fontcolor=white"
    )
    done = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-filter_complex",
            graph,
            "-frames:v",
            "1",
            "-f",
            "md5",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=out,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_ffmpeg_draws_a_nasty_name_exactly_as_it_draws_it_from_a_file(tmp_path: Path) -> None:
    """The escaped label in the graph and the same text read from a file (which needs no
    escaping) make the same picture; a different text does not."""
    font = find_cjk_font()
    label = Label(NASTY, "observer").text()
    escaped = composite.label_filter(composite.Tile("i:x", label, 0, 0, 0), font)
    text_option = escaped.removeprefix("drawtext=").split(":expansion=none")[0] + ":expansion=none"
    (tmp_path / "label.txt").write_text(label, encoding="utf-8")
    from_file = render(font, "textfile=label.txt:expansion=none", tmp_path)
    assert render(font, text_option, tmp_path) == from_file
    (tmp_path / "other.txt").write_text(label.replace("张", "李"), encoding="utf-8")
    assert render(font, "textfile=other.txt:expansion=none", tmp_path) != from_file


# ---- the font ---------------------------------------------------------------------------------


def test_the_font_is_debians_simplified_chinese_face() -> None:
    font = find_cjk_font()
    assert font.path.is_file() and font.family == "Noto Sans CJK SC" and font.index == 2, font
    assert find_cjk_font(fc_match=None) == font, "found by its Debian path without fc-match too"


def test_without_a_chinese_font_the_error_says_which_package_to_install(tmp_path: Path, monkeypatch: Any) -> None:
    with pytest.raises(FontMissing, match="fonts-noto-cjk"):
        find_cjk_font(fc_match=None, known=())
    with pytest.raises(FontMissing, match="fonts-noto-cjk"):
        find_cjk_font(fc_match="/nonexistent/fc-match", known=[("/nonexistent/NotoSansCJK-Regular.ttc", 2, "x")])
    # fontconfig that knows only Latin fonts answers with one of them: it is not taken.
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><fontconfig><dir>/usr/share/fonts/truetype/dejavu</dir>'
        f"<cachedir>{tmp_path}/cache</cachedir></fontconfig>"
    )
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))
    with pytest.raises(FontMissing):
        find_cjk_font(known=())


async def test_a_composite_without_a_chinese_font_fails_saying_so(core: Core, world: World) -> None:
    case_id, session_id = world.demo.case_id, world.demo.session_id
    rec = await record_session(
        core, case_id, session_id, people(("王建国", "mediator"), ("李秀英", "applicant")), seconds=0.5
    )
    row = await composite.make(core, case_id, session_id, CLI, fonts=lambda: find_cjk_font(fc_match=None, known=()))
    assert row.status == "failed" and row.error is not None and "fonts-noto-cjk" in row.error, row
    assert not (rec.folder / composite.COMPOSITE_NAME).exists()
    assert await composites_logged(core, case_id) == []


# ---- real composites ---------------------------------------------------------------------------


def probe(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-of",
            "json",
            "-show_entries",
            "stream=codec_type,codec_name,width,height:format=duration",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


def cell_brightness(path: Path, at: float, size: tuple[int, int]) -> list[list[float]]:
    """The mean luma (0-255) of the left part of each grid cell (away from the labels, the
    clock and the audio-only note), in one frame at `at` seconds."""
    width, height = size
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-ss",
            f"{at}",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    assert len(raw) == width * height
    out = []
    for y0 in range(0, height, 480):
        row = []
        for x0 in range(0, width, 640):
            pixels = [raw[y * width + x] for y in range(y0 + 80, y0 + 200, 4) for x in range(x0 + 40, x0 + 200, 4)]
            row.append(sum(pixels) / len(pixels))
        out.append(row)
    return out


async def composites_logged(core: Core, case_id: str) -> list[dict[str, Any]]:
    async with core.db.read() as s:
        rows = await s.execute(
            select(CaseEvent.data).where(CaseEvent.case_id == case_id, CaseEvent.kind == "recording.composite")
        )
        return [dict(d) for d in rows.scalars()]


async def test_two_people_side_by_side_with_their_names(core: Core, world: World) -> None:
    case_id, session_id = world.demo.case_id, world.demo.session_id
    who = people(("王建国", "mediator"), ("李秀英", "applicant"))
    rec = await record_session(core, case_id, session_id, who, seconds=1.5)
    row = await composite.make(core, case_id, session_id, CLI)
    assert row.status == "done", row.error
    path = core.settings.data_dir / str(row.path)
    info = probe(path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert (video["codec_name"], video["width"], video["height"]) == ("vp8", 1280, 480)
    assert any(s["codec_type"] == "audio" and s["codec_name"] == "opus" for s in info["streams"])
    assert 1.3 <= float(info["format"]["duration"]) <= 1.8
    (cells,) = cell_brightness(path, 0.7, (1280, 480))
    assert all(c > 60 for c in cells), f"both tiles show video: {cells}"
    (logged,) = await composites_logged(core, case_id)
    assert logged["size"] == [1280, 480]
    assert logged["tiles"] == [
        {"pid": who[0].pid, "label": "王建国（调解员）"},
        {"pid": who[1].pid, "label": "李秀英（申请人）"},
    ]
    assert logged["starts_at"].startswith(core.clock.now().isoformat()[:16])
    assert rec.folder.is_dir()


async def test_five_people_fill_three_by_two_and_one_heard_only_still_has_a_labelled_tile(
    core: Core, world: World
) -> None:
    case_id, session_id = world.demo.case_id, world.demo.session_id
    who = people(
        ("王建国", "mediator"),
        ("李秀英", "applicant"),
        ("赵院长", "respondent"),
        ("陈敏医生", "expert"),
    ) + people(("张律师", "agent"))
    who[3] = type(who[3])(who[3].name, who[3].role, video=False, id=who[3].id)  # the expert is heard only
    await record_session(core, case_id, session_id, who, seconds=1.0)
    row = await composite.make(core, case_id, session_id, CLI)
    assert row.status == "done", row.error
    path = core.settings.data_dir / str(row.path)
    video = next(s for s in probe(path)["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (1920, 960)
    top, bottom = cell_brightness(path, 0.5, (1920, 960))
    # mediator, applicant, respondent | agent, expert (heard only), nobody
    assert all(c > 60 for c in top + bottom[:1]), (top, bottom)
    assert 20 < bottom[1] < 60, f"the heard-only tile is dark grey: {bottom[1]}"
    assert bottom[2] < 8, f"the sixth cell is empty: {bottom[2]}"
    (logged,) = await composites_logged(core, case_id)
    assert [t["label"] for t in logged["tiles"]] == [
        "王建国（调解员）",
        "李秀英（申请人）",
        "赵院长（被申请人）",
        "张律师（代理人）",
        "陈敏医生（专家）",
    ]
