"""The web console, driven in Debian's Chromium against the local stack (6 simulated providers).

GIVEN the console WHEN the user signs in, previews and launches 3 instances THEN the request detail
shows them ACTIVE with IPs and live expiry countdowns; deleting shows DELETING/DELETED; bad input
shows the API's own error naming the field."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import TOKEN

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("OMS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = "/tmp/console.png"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install chromium; CI installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser: Any, stack: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(stack.url + "/")
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the console: {errors}"


def sign_in(page: Any, token: str = TOKEN) -> None:
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def test_console_assets_are_served_allow_listed(stack: Any) -> None:
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "/console/console.js" in page.text and "https://" not in page.text  # no CDN
        assert "script-src 'self'" in page.headers["content-security-policy"]
        for asset, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
            response = client.get(f"/console/{asset}")
            assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        missing = client.get("/console/app.py")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        script = client.get("/console/console.js").text
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in script, f"console.js uses {sink}: API text must go through text nodes"


def test_sign_in_launch_watch_and_delete(page: Any) -> None:
    from playwright.sync_api import expect

    # GIVEN the console: it asks for the token first
    expect(page.get_by_label("API token")).to_be_visible()
    sign_in(page, "not-the-token")
    expect(page.locator("#signin-error")).to_contain_text("401")
    sign_in(page)
    assert page.evaluate("localStorage.getItem('oms-token')") == TOKEN

    # WHEN signed in, capacity lists the 6 simulated providers with totals and health
    capacity = page.locator("#capacity-table tbody tr")
    expect(capacity).to_have_count(6)
    for n in range(1, 7):
        expect(page.locator(f'#capacity-table tr[data-provider="sim-{n}"]')).to_contain_text("healthy")
    expect(page.locator("#capacity-table tfoot")).to_contain_text("120")
    expect(page.locator("#providers-table tbody tr[data-provider]")).to_have_count(6)

    # AND a provider check reports in plain words
    page.locator('#providers-table tr[data-provider="sim-1"]').get_by_role("button", name="Check").click()
    expect(page.locator('tr[data-check-for="sim-1"]')).to_contain_text("sim-1 works")

    form = page.locator("#request-form")
    form.get_by_label("Instances").fill("3")
    form.get_by_label("Image").fill("ubuntu")
    form.get_by_label("Min vCPUs").fill("1")
    form.get_by_label("Min RAM (MB)").fill("1024")
    form.get_by_label("Lifetime (minutes)").fill("5")

    # AND previews: a per-provider plan, nothing created
    form.get_by_role("button", name="Preview").click()
    expect(page.locator("#plan")).to_contain_text("Preview: 3 of 3 would be placed")
    expect(page.locator("#plan .chip")).to_have_count(3)  # spread: one on each of 3 providers

    # AND launches (with an Idempotency-Key)
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/requests")) as posted:
        form.get_by_role("button", name="Launch").click()
    key = posted.value.headers.get("idempotency-key", "")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", key), key
    expect(page).to_have_url(re.compile(r"#/requests/r-[0-9a-f]+$"))
    request_id = page.url.rsplit("/", 1)[1]

    # THEN the detail follows it to 3 ACTIVE instances with IPs and ticking expiry countdowns
    detail = page.locator("#request-detail")
    expect(detail.locator(".detail-status")).to_have_text("READY", timeout=45_000)
    rows = detail.locator("#instances-table tbody tr[data-instance]")
    expect(rows).to_have_count(3)
    for i in range(3):
        row = rows.nth(i)
        expect(row).to_contain_text("ACTIVE")
        expect(row.locator(".ip")).to_have_text(re.compile(r"^\d+\.\d+\.\d+\.\d+$"))
        expect(row.locator("time.countdown")).to_have_text(re.compile(r"^[45]:\d\d left$"))
    providers = {rows.nth(i).locator("td").nth(1).inner_text() for i in range(3)}
    assert len(providers) == 3, providers
    before = rows.first.locator("time.countdown").inner_text()
    expect(rows.first.locator("time.countdown")).not_to_have_text(before, timeout=3_000)  # live
    expect(page.locator(f'#requests-table tr[data-request="{request_id}"]')).to_contain_text("READY")
    expect(page.locator("#capacity-totals")).to_contain_text("3")
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky top bar lands mid-image
    page.screenshot(path=SCREENSHOT, full_page=True)

    # Extend by 15 minutes: 5 min of life becomes 20, and the countdowns follow
    detail.get_by_role("button", name="Extend 15 min").click()
    expect(detail.locator("#detail-message")).to_contain_text("Extended by up to 15 minutes")
    for i in range(3):
        expect(rows.nth(i).locator("time.countdown")).to_have_text(re.compile(r"^(19|20):\d\d left$"))

    # WHEN deleted THEN it shows DELETING, then DELETED
    page.once("dialog", lambda dialog: dialog.accept())
    detail.get_by_role("button", name="Delete").click()
    expect(detail.locator(".detail-status")).to_have_text(re.compile("DELETING|DELETED"))
    expect(detail.locator(".detail-status")).to_have_text("DELETED", timeout=30_000)

    # Bad input: the API's error text names the field, next to the form
    form.get_by_label("Instances").fill("0")
    form.get_by_role("button", name="Launch").click()
    error = page.locator("#form-error")
    expect(error).to_contain_text("count: Input should be greater than or equal to 1")
    expect(form.get_by_label("Instances")).to_have_attribute("aria-invalid", "true")
    form.get_by_label("Instances").fill("3")
    form.get_by_label("Lifetime (minutes)").fill("61")
    form.get_by_role("button", name="Preview").click()
    expect(error).to_contain_text("lifetime_minutes: Input should be less than or equal to 60")

    # API text is shown as text, never as markup
    form.get_by_label("Lifetime (minutes)").fill("5")
    form.get_by_label("Image").fill('<img id="xss" src="x">')
    form.get_by_role("button", name="Preview").click()
    expect(page.locator("#plan")).to_contain_text('<img id="xss" src="x">')
    expect(page.locator("#xss")).to_have_count(0)

    # Sign out brings the prompt back and forgets the token
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    assert page.evaluate("localStorage.getItem('oms-token')") is None


def test_a_401_brings_the_prompt_back(page: Any) -> None:
    from playwright.sync_api import expect

    page.evaluate("localStorage.setItem('oms-token', 'stale-token')")
    page.reload()
    expect(page.get_by_label("API token")).to_be_visible()
    expect(page.locator("#signin-error")).to_contain_text("401")
