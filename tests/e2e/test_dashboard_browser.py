"""The on-call dashboard in headless Chromium, fed by real records on the embedded broker.

`obspipe dashboard` runs as a subprocess reading uniquely named output topics. Traces come
from the real assembler; pages, SLO status, shift statistics and dead letters follow
DESIGN.md §3. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from pipeline.adapters.observability import PipelineMetrics, start_metrics_server
from pipeline.settings import Settings
from pipeline.testing.dashboard_records import (
    LinkedTraces,
    dlq_record,
    linked_traces,
    page_record,
    shift_record,
    slo_record,
)
from pipeline.testing.kafka import KafkaTestClient, unique_name

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
TOKEN = "s3cret-on-call"
# Generous: two cores shared by several test runs.
WAIT_MS = 60_000
NOW_NS = time.time_ns()


class Dashboard:
    """A running `obspipe dashboard` subprocess and what the tests fed it."""

    def __init__(
        self, url: str, topics: dict[str, str], traces: LinkedTraces, proc: subprocess.Popen[str]
    ) -> None:
        self.url = url
        self.topics = topics
        self.traces = traces
        self.proc = proc

    def page_url(self, fragment: str = "") -> str:
        return f"{self.url}?token={TOKEN}{fragment}"


def _produce(kafka: KafkaTestClient, topic: str, records: list[dict[str, Any]], key: str = "k") -> None:
    kafka.produce(topic, [orjson.dumps(r) for r in records], key=key.encode())


def _seed(kafka: KafkaTestClient, topics: dict[str, str], traces: LinkedTraces) -> None:
    """Everything but the live page: written before the dashboard starts (it reads from the start)."""
    _produce(kafka, topics["traces"], [traces.checkout, traces.batch])
    minute = 60 * 10**9
    burn = [(0.4, 0.5), (0.8, 0.6), (3.0, 1.2), (22.0, 6.0), (31.0, 15.2), (18.0, 16.1), (4.0, 12.0)]
    _produce(kafka, topics["slo"], [
        slo_record("checkout-availability", {"5m": b5, "1h": b1, "6h": b1 / 3, "3d": 0.9}, 0.62 - 0.04 * i,
                   tier="normal" if i < 4 else "caution", time_unix_nano=NOW_NS - (7 - i) * minute,
                   firing=["page: 1h and 5m > 14.4"] if b5 > 14.4 and b1 > 14.4 else [])
        for i, (b5, b1) in enumerate(burn)
    ])
    _produce(kafka, topics["slo"], [
        slo_record("search-latency", {"5m": 0.2 + i / 10, "1h": 0.3}, 0.97, tier="normal",
                   time_unix_nano=NOW_NS - (7 - i) * minute, objective=99.0)
        for i in range(7)
    ])
    shifts = [("alice", 1, 0, 0.0), ("bob", 3, 2, 0.67), ("carol", 0, 0, 0.0), ("alice", 2, 1, 0.5)]
    _produce(kafka, topics["shifts"], [
        shift_record(f"primary-{i}", who, start=f"2026-11-2{i + 2}T08:00:00Z",
                     end=f"2026-11-2{i + 2}T20:00:00Z", pages=pages, night_pages=night,
                     non_actionable_ratio=ratio, suppressed={"transient": 1})
        for i, (who, pages, night, ratio) in enumerate(shifts)
    ])
    _produce(kafka, topics["pages"], [
        page_record("suppressed", "transient: resolved within 2m", "HighCPU", "search",
                    at="2026-11-26T09:58:00Z", status="resolved"),
        page_record("ticket", "cause alert (cpu utilisation): ticket, not page", "HighCPU", "payments",
                    at="2026-11-26T09:59:00Z"),
    ])
    bad = dlq_record("decode_error", "not JSON: unexpected character at 0", offset=7)
    _produce(kafka, topics["dlq"], [bad])


@pytest.fixture(scope="module")
def dashboard(kafka: KafkaTestClient, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Dashboard]:
    topics = {kind: kafka.create_topic(unique_name(name)) for kind, name in [
        ("traces", "traces.assembled"), ("pages", "alerts.pages"), ("slo", "slo.status"),
        ("shifts", "oncall.stats"), ("dlq", "obspipe.dlq")]}
    suffix = unique_name("x")[-8:]
    traces = linked_traces(
        NOW_NS - 5 * 10**9, checkout_id="c0ffee" * 4 + suffix, batch_id="ba7c4" * 4 + "0000" + suffix
    )
    _seed(kafka, topics, traces)
    run_dir = tmp_path_factory.mktemp("run")
    # A worker's metrics endpoint, announced in the run dir the dashboard looks in.
    worker = PipelineMetrics("trace-assembler")
    worker.open_traces.set(42)
    worker.spans_in.inc(1234)
    start_metrics_server(Settings(run_dir=run_dir, metrics_port=0), worker)
    env = {
        **os.environ,
        "OBSPIPE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "OBSPIPE_DASHBOARD_TOKEN": TOKEN,
        "OBSPIPE_DASHBOARD_PORT": "0",
        "OBSPIPE_RUN_DIR": str(run_dir),
        "OBSPIPE_TOPIC_TRACES": topics["traces"],
        "OBSPIPE_TOPIC_PAGES": topics["pages"],
        "OBSPIPE_TOPIC_SLO_STATUS": topics["slo"],
        "OBSPIPE_TOPIC_ONCALL_STATS": topics["shifts"],
        "OBSPIPE_TOPIC_DLQ": topics["dlq"],
    }
    env.pop("OBSPIPE_REDIS_URL", None)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "obspipe"), "dashboard", "--from-beginning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = _read_url(proc, timeout=90)
        yield Dashboard(url, topics, traces, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _read_url(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = re.match(r"dashboard: (http://\S+)", line)
        if m:
            return m.group(1)
    raise AssertionError("obspipe dashboard printed no URL:\n" + "".join(seen))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    tab = context.new_page()
    yield tab
    context.close()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=20) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_token_protects_page_api_and_events(dashboard: Dashboard) -> None:
    """Without the token (or with a wrong one) the page, API and events answer 401; with it, 200."""
    base = dashboard.url
    for path in ("", "api/state", "events", f"api/traces/{dashboard.traces.checkout['trace_id']}"):
        assert _status(base + path) == 401, path
        assert _status(base + path + "?token=wrong") == 401, path
    assert _status(base + "api/state", {"Authorization": f"Bearer {TOKEN}"}) == 200
    assert _status(base + f"?token={TOKEN}") == 200
    assert _status(base + "static/dashboard.js") == 200  # code only, no data


def test_page_appears_live_and_slo_and_shift_charts_render(dashboard: Dashboard, kafka: KafkaTestClient,
                                                           page: Page) -> None:
    """A page produced after the dashboard loaded shows up without reload; SLO and shift charts draw."""
    page.goto(dashboard.page_url())
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    # Seeded data arrives through the snapshot or the following updates.
    expect(page.locator("#pages tbody tr")).to_have_count(2, timeout=WAIT_MS)
    cards = page.locator(".slo-card")
    expect(cards).to_have_count(2, timeout=WAIT_MS)
    checkout = page.locator('.slo-card[data-slo="checkout-availability"]')
    expect(checkout.locator("path.burn")).to_have_count(4)  # one line per burn-rate window
    expect(checkout.locator("path.budget")).to_have_count(1)
    expect(checkout.locator(".badge.tier")).to_have_text("caution")
    expect(checkout.locator(".budget-bar")).to_contain_text("budget remaining 38.0%")
    expect(page.locator("#shifts-chart rect.bar")).to_have_count(4)
    expect(page.locator("#shifts-chart rect.bar.over")).to_have_count(2)  # bob (3) and alice (2)
    expect(page.locator("#dlq")).to_contain_text("decode_error")
    expect(page.locator("#workers tbody tr")).to_contain_text("trace-assembler", timeout=WAIT_MS)
    expect(page.locator("#workers tbody tr")).to_contain_text("1,234")
    expect(page.locator(".counter", has_text="open traces").locator(".value")).to_have_text("42")

    # Now, with the page loaded, the incident pages the on-call person.
    _produce(kafka, dashboard.topics["pages"], [page_record(
        "page", "symptom: SLO burn 1h and 5m > 14.4", "SLOBurnRate", "payments", at="2026-11-26T10:02:00Z",
        summary="checkout-availability is burning its budget 31x")])
    live = page.locator("#pages tbody tr").first
    expect(live).to_contain_text("SLOBurnRate", timeout=WAIT_MS)
    expect(live.locator(".badge")).to_have_text("page")
    expect(live).to_contain_text("symptom: SLO burn 1h and 5m > 14.4")
    expect(page.locator("#pages tbody tr")).to_have_count(3)
    expect(page.locator(".counter.bad .value")).to_have_text("1")
    _shot(page, "dashboard-overview")


def test_waterfall_shows_critical_path_skew_and_navigable_links(
    dashboard: Dashboard, kafka: KafkaTestClient, page: Page
) -> None:
    """Opening a trace draws its waterfall; links lead to the linked trace and back; revisions redraw it."""
    checkout, batch = dashboard.traces.checkout, dashboard.traces.batch
    page.goto(dashboard.page_url())
    page.locator("#trace-tabs button[data-tab=errors]").click()
    row = page.locator(f'#trace-list a.trace-link[data-trace-id="{checkout["trace_id"]}"]')
    expect(row).to_have_count(1, timeout=WAIT_MS)
    row.click()

    wf = page.locator("#waterfall")
    expect(wf.locator(".span-row")).to_have_count(9, timeout=WAIT_MS)
    # Every span but GET /recommendations (concurrent, finished first) lies on the critical path.
    expect(wf.locator(".span-row.critical")).to_have_count(8)
    off_path = wf.locator(".span-row:not(.critical)")
    expect(off_path).to_contain_text("GET /recommendations")
    assert wf.locator(".cp-seg").count() >= 8
    skewed = wf.locator(f'.span-row[data-span-id="{dashboard.traces.skewed_span_id}"]')
    expect(skewed.locator(".tag.skew")).to_contain_text("400")
    expect(skewed).to_contain_text("CLOCK_SKEW_ADJUSTED")
    expect(wf.locator(".wf-diagnostics")).to_contain_text("CLOCK_SKEW_ADJUSTED")
    # Adjusted times: the skewed span sits inside its caller (bar starts at 60 of 420 ms).
    left = skewed.locator(".wf-bar").evaluate("el => parseFloat(el.style.left)")
    assert abs(left - 100 * 60 / 420) < 0.5
    _shot(page, "dashboard-waterfall")

    # Incoming link -> the batch consumer's trace.
    page.locator(f'.wf-links.in a.link-in[data-trace-id="{batch["trace_id"]}"]').click()
    expect(wf.locator(".wf-head")).to_contain_text("orders process", timeout=WAIT_MS)
    expect(wf.locator(".span-row")).to_have_count(2)
    assert page.url.endswith(f"#trace={batch['trace_id']}")
    _shot(page, "dashboard-linked-trace")

    # ... and its outgoing link leads back to the checkout trace.
    page.locator(f'.wf-links.out a.link-out[data-trace-id="{checkout["trace_id"]}"]').click()
    expect(wf.locator(".wf-head")).to_contain_text("POST /checkout", timeout=WAIT_MS)
    expect(wf.locator(".span-row")).to_have_count(9)

    # A trace id pasted in the box opens that trace (upper case is fine).
    page.locator("#trace-id").fill(batch["trace_id"].upper())
    page.locator("#trace-id").press("Enter")
    expect(wf.locator(".wf-head")).to_contain_text("orders process", timeout=WAIT_MS)
    page.go_back()
    expect(wf.locator(".wf-head")).to_contain_text("POST /checkout", timeout=WAIT_MS)

    # A late span makes revision 2 of the open trace: the waterfall redraws without a click.
    late_span = {**checkout["spans"][-1], "span_id": "a00000000000000a", "name": "audit.write"}
    revision2 = {**checkout, "revision": 2, "reason": "late_update", "spans": [*checkout["spans"], late_span],
                 "summary": {**checkout["summary"], "span_count": 10}}
    _produce(kafka, dashboard.topics["traces"], [revision2])
    expect(wf.locator(".span-row")).to_have_count(10, timeout=WAIT_MS)
    expect(wf.locator(".wf-meta")).to_contain_text("revision 2 (late_update)")
