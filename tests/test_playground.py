"""The playground page, used in a real browser as a person uses it.

Headless Chromium opens ``/`` of ``rpbuild up`` and of the local API
(``rpbuild serve``), runs the seed handler from the keyboard, watches its five
chunks arrive one at a time, cancels a job, and keeps a screenshot.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.fixtures.browser import artifact
from tests.fixtures.docker_engine import SEED_HANDLER, SEED_TOKENS
from tests.fixtures.endpoint import StartEndpoint
from tests.fixtures.worker_process import ApiProcess

pytestmark = pytest.mark.browser

SEED_INPUT = '{"input": {"prompt": "hi"}}'
MILLISECONDS = re.compile(r"\d+ ms")

RECORD_CHUNKS = """() => {
  window.seen = [];
  new MutationObserver(() => window.seen.push({
    count: document.querySelectorAll('#chunks li').length,
    status: document.getElementById('status').textContent,
  })).observe(document.getElementById('chunks'), {childList: true});
}"""


async def _open(page: Page, url: str) -> None:
    await page.goto(url)
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")


async def _run_seed_from_the_keyboard(page: Page) -> None:
    """The seed input is prefilled; Ctrl+Enter runs it; five chunks come one by one."""
    editor = page.get_by_label("Job request")
    await expect(editor).to_have_value(SEED_INPUT)
    await page.evaluate(RECORD_CHUNKS)
    await editor.focus()
    await page.keyboard.press("Control+Enter")
    status = page.get_by_role("status")
    await expect(status).to_have_text("COMPLETED", timeout=60_000)
    seen: list[dict[str, Any]] = await page.evaluate("window.seen")
    assert [entry["count"] for entry in seen] == [1, 2, 3, 4, 5]
    assert all(entry["status"] == "IN_PROGRESS" for entry in seen[:4]), seen
    await expect(page.locator("#chunks li")).to_have_text(SEED_TOKENS)
    for token in SEED_TOKENS:
        await expect(page.locator("#output")).to_contain_text(token)
    await expect(page.locator("#execution")).to_have_text(MILLISECONDS)
    await expect(page.get_by_role("list", name="Recent jobs")).to_contain_text("COMPLETED")


async def _cancel_a_running_job(page: Page) -> None:
    await page.get_by_role("button", name="Run", exact=True).click()
    await expect(page.locator("#chunks li")).to_have_count(1, timeout=60_000)
    await page.get_by_role("button", name="Cancel").click()
    await expect(page.get_by_role("status")).to_have_text("CANCELLED")
    await expect(page.get_by_role("button", name="Cancel")).to_be_disabled()
    shown = await page.locator("#chunks li").count()
    await asyncio.sleep(1.5)  # the seed would have produced another chunk by now
    assert await page.locator("#chunks li").count() == shown < 5


async def test_the_playground_of_rpbuild_up(start_endpoint: StartEndpoint, page: Page) -> None:
    client = await start_endpoint(SEED_HANDLER.read_text(), min_workers=1, input=SEED_INPUT)
    await _open(page, client.endpoint.url + "/")
    await expect(page.locator("#workers")).to_contain_text("worker-1", timeout=30_000)
    await _run_seed_from_the_keyboard(page)
    await _cancel_a_running_job(page)
    await expect(page.locator("#workers")).to_contain_text(MILLISECONDS)
    await page.screenshot(path=artifact("playground-up.png"), full_page=True)
    assert (await client.call("GET", "/health"))["jobs"]["completed"] == 1


async def test_the_playground_of_the_local_api(
    tmp_path: Path, api_process: Any, page: Page
) -> None:
    (tmp_path / "handler.py").write_text(SEED_HANDLER.read_text())
    (tmp_path / "test_input.json").write_text(SEED_INPUT)
    api: ApiProcess = api_process(tmp_path / "handler.py")
    await _open(page, api.url + "/")
    assert await page.locator("#endpoint").is_hidden()
    await _run_seed_from_the_keyboard(page)
    await _cancel_a_running_job(page)
    await page.screenshot(path=artifact("playground-serve.png"), full_page=True)


async def test_a_bad_request_is_explained_on_the_page(
    start_endpoint: StartEndpoint, page: Page
) -> None:
    client = await start_endpoint(SEED_HANDLER.read_text(), min_workers=0)
    await _open(page, client.endpoint.url + "/")
    await page.get_by_label("Job request").fill('{"prompt": "no input key"}')
    await page.get_by_role("button", name="Run sync").click()
    await expect(page.get_by_role("alert")).to_contain_text('needs an "input" object')
