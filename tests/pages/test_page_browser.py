"""Real Chromium against the real server: what a mediator and a party actually see and can do.

Screenshots go to test-artifacts/pages/ (gitignored) so a person can look at them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Page, expect

from tests.pages.helpers import path_of
from tests.support.browser import CHROMIUM_ARGS, base_url, chromium, port, settings  # noqa: F401 — fixtures

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "pages"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium(CHROMIUM_ARGS) as b:
        yield b


async def _new_page(browser: Browser, base_url: str, viewport: dict[str, int]) -> tuple[Any, Page, list[str]]:
    """A Chinese phone or desktop browser. Collects script errors, console errors (CSP violations show
    up there) and failed loads of anything but the pages themselves (whose status the tests check)."""
    context = await browser.new_context(
        viewport=viewport,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        device_scale_factor=1,
        is_mobile=viewport is PHONE,
        has_touch=viewport is PHONE,
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page = await context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}") if r.status >= 400 and r.request.resource_type != "document" else None
        ),
    )
    return context, page, errors


async def _check_page(page: Page, name: str, viewport: dict[str, int]) -> None:
    """No sideways scrolling, Chinese in a CJK font, and a screenshot to look at."""
    width = viewport["width"]
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{name}: the page scrolls sideways ({scroll_width}px > {width}px)"
    assert await page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '调解')"), (
        "no CJK font: Chinese would render as boxes (install fonts-noto-cjk)"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_a_mediator_signs_in_opens_the_demo_case_shares_a_link_and_creates_a_case(
    browser, base_url, world, viewport
):
    context, page, errors = await _new_page(browser, base_url, viewport)

    # Sign in with the keyboard only: the username field has focus, Tab to the password, Enter.
    await page.goto(f"{base_url}/cases")
    await expect(page).to_have_url(re.compile(r"/login\?next=/cases$"))
    await expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
    await _check_page(page, "login", viewport)
    await expect(page.get_by_label("用户名")).to_be_focused()
    await page.keyboard.type("demo-mediator")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("密码")).to_be_focused()
    await page.keyboard.type(world.passwords["demo-mediator"])
    await page.keyboard.press("Enter")

    # The case list.
    await expect(page).to_have_url(f"{base_url}/cases")
    await expect(page.get_by_role("heading", name="案件", exact=True)).to_be_visible()
    await expect(page.get_by_text("共 1 件案件")).to_be_visible()
    await _check_page(page, "cases", viewport)

    # The demo case: parties masked, links to send.
    await page.get_by_role("link", name="李秀英与清水镇卫生院医疗纠纷").click()
    await expect(page).to_have_url(f"{base_url}/cases/{world.demo.case_id}")
    await expect(page.get_by_role("cell", name="138****8000")).to_be_visible()
    assert "13800138000" not in await page.content()
    await _check_page(page, "case", viewport)

    # Copy the applicant's link: the button says so, and the clipboard holds the link.
    applicant = page.locator("li.invitation", has_text="李秀英")
    link = await applicant.get_by_role("textbox").input_value()
    assert link.startswith(f"{base_url}/j/")
    copy = applicant.get_by_role("button", name="复制链接")
    await copy.click()
    await expect(applicant.get_by_role("button", name="已复制")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == link
    await expect(copy).to_have_text("复制链接", timeout=5000)

    # The QR code opens with the keyboard too, and the image loads.
    summary = applicant.locator("summary", has_text="二维码")
    await summary.focus()
    await page.keyboard.press("Enter")
    qr = applicant.get_by_role("img", name=re.compile("李秀英"))
    await expect(qr).to_be_visible()
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await qr.element_handle())
    assert await qr.evaluate("img => img.naturalWidth") > 0
    await _check_page(page, "case-qr", viewport)

    # A new case through the form: first with a wrong ID-card number, then corrected.
    await page.get_by_role("link", name="案件", exact=True).first.click()
    await page.get_by_role("link", name="新建案件").click()
    await expect(page).to_have_url(f"{base_url}/cases/new")
    await page.get_by_label("标题").fill("王五与赵六土地承包经营权纠纷")
    await page.get_by_label("纠纷类型").select_option(label="土地纠纷")
    await page.get_by_label("案件来源").select_option(label="主动排查发现")
    await page.get_by_label("纠纷概要").fill("双方就承包地边界发生争议。")
    first = page.get_by_role("group", name="第 1 位当事人")
    await first.get_by_label("姓名").fill("王五")
    await first.get_by_label("电话").fill("13912345678")
    await first.get_by_label("身份证号").fill("110105194912310021")
    second = page.get_by_role("group", name="第 2 位当事人")
    await second.get_by_label("姓名").fill("赵六")
    await _check_page(page, "case-new", viewport)
    await page.get_by_role("button", name="创建案件").click()
    await expect(page.get_by_role("alert")).to_contain_text("第 1 位当事人：身份证号校验位不正确")
    await expect(first.get_by_label("姓名")).to_have_value("王五")
    await expect(first.get_by_label("身份证号")).to_have_attribute("aria-invalid", "true")
    await _check_page(page, "case-new-error", viewport)
    await first.get_by_label("身份证号").fill("11010519491231002X")
    await page.get_by_role("button", name="创建案件").click()
    await expect(page).to_have_url(re.compile(rf"{re.escape(base_url)}/cases/[0-9a-f-]{{36}}$"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("王五与赵六土地承包经营权纠纷")
    await expect(page.get_by_text("110***********002X")).to_be_visible()
    await _check_page(page, "case-created", viewport)

    assert errors == [], errors
    await context.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_a_party_opens_the_join_link_and_sees_the_session_page(browser, base_url, world, viewport):
    context, page, errors = await _new_page(browser, base_url, viewport)
    link = world.demo.links["applicant"]
    assert link.startswith(base_url)
    await page.goto(link)
    await expect(page).to_have_url(f"{base_url}/s/{world.demo.session_id}")
    await expect(page.get_by_role("heading", name="第一次视频调解")).to_be_visible()
    await expect(page.get_by_text("李秀英", exact=True)).to_be_visible()
    await expect(page.locator("#prejoin").get_by_text("申请人", exact=True)).to_be_visible()
    content = await page.content()
    assert "138****8000" not in content and "清水镇卫生院医疗纠纷" in content
    await _check_page(page, "session", viewport)

    # Staff pages stay closed to the holder of a link.
    response = await page.goto(f"{base_url}/cases")
    assert response is not None and response.status == 403
    await _check_page(page, "holder-forbidden", viewport)

    # A tampered link is refused, calmly and in Chinese.
    body, mac = path_of(link).rsplit("/", 1)[1].split(".")
    response = await page.goto(f"{base_url}/j/{body}.{'B' if mac[0] != 'B' else 'C'}{mac[1:]}")
    assert response is not None and response.status == 401
    await expect(page.get_by_role("heading", name="此链接无法使用")).to_be_visible()
    await _check_page(page, "join-refused", viewport)

    # English on request.
    await page.goto(f"{base_url}/s/{world.demo.session_id}")
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_text("You join as")).to_be_visible()
    await _check_page(page, "session-en", viewport)

    assert errors == [], errors
    await context.close()


async def test_a_join_form_posted_from_an_opaque_origin_signs_nobody_in(browser, base_url, world):
    """A page with an opaque origin (here a data: URL) posts a join link's form: its browser
    sends `Origin: null`, and the server refuses it; nobody is signed into that session."""
    context, page, errors = await _new_page(browser, base_url, PHONE)
    link = world.demo.links["applicant"]
    forged = (
        f'<form method="post" action="{link}"><input name="csrf_token" value="guess"></form>'
        "<script>document.forms[0].submit()</script>"
    )
    async with page.expect_response(link) as posted:
        await page.goto("data:text/html," + quote(forged))
    response = await posted.value
    assert response.request.headers.get("origin") == "null"
    assert response.status == 403
    assert "heshi_join" not in {c["name"] for c in await context.cookies()}
    await context.close()
