"""The dashboard at /ui in a real browser: Debian's headless Chromium driven by selenium, watching
a real deployment that a real daemon subprocess drives on the embedded Marathon.

The page is used as an operator would: the API token is pasted once (a wrong one gets a refusal
naming the token), then pause / resume / promote are clicked and the phase, counts, timeline and
event list follow live.
Every browser call runs in a thread: the embedded Marathon shares this test's event loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.cli.support import GROUP, TOKEN, Daemon, cli, cluster, wait_until, write_config, write_green

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,860")


@asynccontextmanager
async def browser(profile: Path) -> AsyncIterator[webdriver.Chrome]:
    opts = Options()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not look for drivers online
    driver = await asyncio.to_thread(webdriver.Chrome, service=service, options=opts)
    try:
        yield driver
    finally:
        await asyncio.to_thread(driver.quit)


async def js(driver: webdriver.Chrome, script: str, *args: Any) -> Any:
    return await asyncio.to_thread(driver.execute_script, script, *args)


ROW_PHASE = ("const r = document.querySelector('#groups tr[data-group=\"' + arguments[0] + '\"]');"
             "return r ? r.children[1].textContent : null;")
CLICK = ("const b = document.querySelector('button[data-group=\"' + arguments[0] + '\"]"
         "[data-command=\"' + arguments[1] + '\"]'); if (!b) return false; b.click(); return true;")
# from now on, every text the page puts in its message line, in order (window.__said)
RECORD_MESSAGES = """
window.__said = [];
if (!window.__sayObserver) {
  const m = document.getElementById('message');
  window.__sayObserver = new MutationObserver(() => {
    if (m.textContent) window.__said.push(m.textContent);
  });
  window.__sayObserver.observe(m, {childList: true, characterData: true, subtree: true});
}
"""
CANVAS_INKED = ("const c = document.getElementById('timeline');"
                "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;")


async def phase_shown(driver: webdriver.Chrome, *phases: str, timeout_s: float = 30) -> str:
    async def shown() -> str | None:
        phase = await js(driver, ROW_PHASE, GROUP)
        return phase if phase in phases else None
    return str(await wait_until(shown, timeout_s=timeout_s, what=f"dashboard shows {phases}", interval_s=0.2))


async def click(driver: webdriver.Chrome, command: str) -> str:
    """Click GROUP's button for `command`; the page's answer to it (`<group>: <command> ...`).
    Other messages may come meanwhile: a refresh of the rows with a wrong token pasted says
    "cannot read deployments", which is not the command's answer."""
    await js(driver, RECORD_MESSAGES)
    assert await js(driver, CLICK, GROUP, command), f"no {command} button"

    async def answered() -> str | None:  # every message since the click, none missed between polls
        said = [str(m) for m in await js(driver, "return window.__said;")]
        return next((m for m in said if m.startswith(f"{GROUP}: ")), None)
    return str(await wait_until(answered, timeout_s=15, what=f"answer to {command}", interval_s=0.1))


async def test_dashboard_follows_a_deployment_and_its_buttons_drive_it(tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    async with cluster(blue_instances=3) as c:
        cfg = write_config(tmp_path, c.url, deploy="auto_promote = false")
        async with Daemon(cfg) as daemon, browser(tmp_path / "profile") as driver:
            await asyncio.to_thread(driver.get, daemon.api + "/ui")
            field = await asyncio.to_thread(driver.find_element, By.ID, "token")
            await asyncio.to_thread(field.send_keys, TOKEN + "\n")  # pasted once

            async def streaming() -> bool:
                return await js(driver, "return document.getElementById('conn').textContent;") == "live"
            await wait_until(streaming, what="the page following /v1/events", interval_s=0.1)
            r = await cli("deploy", str(write_green(tmp_path, instances=3, health="healthy-after-1s")),
                          "--config", str(cfg), "--detach")
            assert r.rc == 0, r
            await phase_shown(driver, "awaiting_promotion")
            await asyncio.to_thread(field.send_keys, "wrong-token\n")  # a wrong one is refused
            refused = await click(driver, "promote")
            assert "refused" in refused and "token" in refused, refused
            await asyncio.to_thread(field.send_keys, TOKEN + "\n")
            assert "pause accepted" in await click(driver, "abort")
            await phase_shown(driver, "paused")
            assert "resume accepted" in await click(driver, "resume")
            await phase_shown(driver, "awaiting_promotion")
            assert "promote accepted" in await click(driver, "promote")
            await phase_shown(driver, "shifting", "done")
            await asyncio.to_thread(driver.save_screenshot, str(shots / "dashboard-shifting.png"))
            await phase_shown(driver, "done", timeout_s=60)
            events = str(await js(driver, "return document.getElementById('events').innerText;"))
            inked = await js(driver, CANVAS_INKED)
            token_kept = await js(driver, "return sessionStorage.getItem('bluegreen-api-token');")
            live = await js(driver, "return document.getElementById('conn').textContent;")
            await asyncio.to_thread(driver.save_screenshot, str(shots / "dashboard-done.png"))
            commands = [row for row in (await daemon.get("/v1/deployments"))[1]["deployments"]]
            assert await daemon.stop() == 0
        apps = await c.group_apps()
    for name in ("deployment.started", "deployment.paused", "deployment.resumed", "traffic.shifted",
                 "blue.killed", "deployment.completed"):
        assert name in events, f"{name} not in the event list:\n{events}"
    assert inked > 500, "the timeline was not drawn"
    assert token_kept == TOKEN and live == "live"
    assert commands and commands[0]["phase"] == "done"
    assert list(apps) == ["/web"] and apps["/web"]["instances"] == 3
    assert (shots / "dashboard-done.png").stat().st_size > 10_000
    keep = os.environ.get("BLUEGREEN_DASHBOARD_SHOT")  # README screenshot: copy it out on demand
    if keep:
        shutil.copy(shots / "dashboard-shifting.png", keep)
