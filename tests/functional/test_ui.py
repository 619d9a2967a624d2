"""The status page in a real browser (issue 16): Debian's chromium, headless, driven by
selenium through chromium-driver, on a real ``netnode serve`` over the seed built on
this host.

The page lists the seed's load balancer; a member whose server is stopped in the lab is
shown down on the page within two seconds of the API saying so (the health monitor's
own detection delay comes before that and is not the page's); ``netnode draw`` from the
node's store colours the same member down. The browser's screenshot
is kept: ``NETNODE_UI_SCREENSHOT=docs/ui.png`` writes it where the README shows it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from netnode.plan.desired import process_name
from tests.functional.conftest import Lab, eventually, fast_monitor, seed_data
from tests.functional.test_openstack_cli import Server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLOATING_IP = "10.255.253.100"
SHOWN_WITHIN = 2.0  # seconds from the API's ERROR to the page's


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        reason = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
        if os.environ.get("NETNODE_REQUIRE_FUNCTIONAL") == "1":
            pytest.fail(f"NETNODE_REQUIRE_FUNCTIONAL=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",  # as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1250",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def traffic(lab: Lab, namespace: str, address: str) -> Iterator[None]:
    """Requests from ``namespace`` to ``address``, about ten a second, until the block
    ends (for the page's statistics and request rate)."""
    stop = threading.Event()

    def send() -> None:
        while not stop.is_set():
            with suppress(OSError):
                lab.get(namespace, address, timeout=1.0)
            stop.wait(0.1)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def shown(driver: Any, selector: str, attribute: str = "") -> str | None:
    """An attribute (or the text) of the first element ``selector`` finds, read in one
    script: the page replaces its sections as it refreshes."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]);"
        "return e ? (arguments[1] ? e.getAttribute(arguments[1]) : e.textContent) : null;",
        selector,
        attribute,
    )


def status_of(driver: Any, object_id: str) -> str | None:
    """The operating status the page shows in the row of ``object_id``."""
    return shown(driver, f'tr[data-id="{object_id}"]', "data-status")


def test_the_page_lists_the_load_balancer_and_shows_a_stopped_member_down(
    lab: Lab, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    data = fast_monitor(seed_data())
    outcome = lab.apply(data)
    assert outcome.ok, outcome.failures
    topo = lab.topology(data)
    lb = topo.load_balancers[0]
    pool = lb.pools[0]
    vm1 = next(m for m in pool.members if m.name == "vm1")
    server_81 = next(i for i in topo.lab.instances if i.address == vm1.address)
    server = Server(lab, "--noauth", "--no-agent")
    driver = browser
    try:
        driver.get(f"{server.url}/ui/")
        card = f'div.lb[data-id="{lb.uid}"]'
        heading = shown(driver, f"{card} h3") or ""
        assert heading.startswith("01") and "VIP 10.0.0.100" in heading, heading
        assert shown(driver, f'#topology svg g.loadbalancer[data-id="{lb.uid}"]', "class")
        with traffic(lab, lab.ns_of("client", "outside"), FLOATING_IP):
            eventually(lambda: status_of(driver, vm1.uid) == "ONLINE")
            # The request rate's sparkline has points once the page polled a few times.
            eventually(lambda: driver.find_elements(By.CSS_SELECTOR, "svg.spark polyline"))
            lab.host.haproxy.stop(process_name("lab", server_81.uid))
            member = f"{server.url}/v2/lbaas/pools/{pool.uid}/members/{vm1.uid}"

            def api_says() -> str:
                return httpx.get(member).json()["member"]["operating_status"]

            eventually(lambda: api_says() == "ERROR", interval=0.05)
            told = time.monotonic()
            eventually(
                lambda: status_of(driver, vm1.uid) == "ERROR",
                timeout=SHOWN_WITHIN,
                interval=0.05,
            )
            print(f"shown down on the page {time.monotonic() - told:.2f} s after the API")
            assert shown(driver, card, "data-status") == "DEGRADED"
            drawn = f'#topology svg g.row[data-id="{vm1.uid}"]'
            eventually(lambda: shown(driver, drawn, "data-status") == "ERROR", timeout=5)
            time.sleep(3)  # a few more points on the sparkline for the screenshot
            shot = lab.tmp / "ui.png"
            assert driver.save_screenshot(str(shot))
        # netnode draw from the node's store colours the same member down.
        drawing = lab.tmp / "topology.svg"
        subprocess.run(
            [sys.executable, "-m", "netnode.cli.main", *lab.cli_args(), "draw", "-o", str(drawing)],
            check=True,
            capture_output=True,
        )
        statuses = {e.get("data-id"): e.get("data-status") for e in ET.parse(drawing).iter()}
        assert statuses[vm1.uid] == "ERROR" and statuses[lb.uid] == "DEGRADED"
        keep = os.environ.get("NETNODE_UI_SCREENSHOT")
        if keep:
            shutil.copyfile(shot, keep)
    finally:
        server.stop()
