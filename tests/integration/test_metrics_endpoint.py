"""The worker metrics endpoint over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from pipeline.adapters.observability import PipelineMetrics, serve_metrics, start_metrics_server
from pipeline.dashboard.workers import announced_urls, scrape_workers
from pipeline.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_endpoint_serves_prometheus_text_on_a_free_port() -> None:
    """The HTTP endpoint on port 0 binds a free port and serves the app's series as text."""
    m = PipelineMetrics("trace-assembler")
    m.open_traces.set(17)
    endpoint = serve_metrics(m, "127.0.0.1", 0)
    try:
        assert endpoint.port > 0
        with urllib.request.urlopen(endpoint.url, timeout=10) as resp:
            body = resp.read().decode()
        assert 'obspipe_open_traces{app="trace-assembler"} 17.0' in body
    finally:
        endpoint.close()


def test_start_metrics_server_uses_settings_and_announces_the_url(tmp_path: Path) -> None:
    """start_metrics_server binds settings.web_host, returns its port and announces the URL in run_dir."""
    m = PipelineMetrics("slo-burn")
    m.spans_in.inc(9)
    port = start_metrics_server(Settings(metrics_port=0, web_host="127.0.0.1", run_dir=tmp_path), m)
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert b'obspipe_spans_in_total{app="slo-burn"} 9.0' in resp.read()
    assert (tmp_path / "metrics" / f"slo-burn-{os.getpid()}.url").read_text().strip() == url
    assert announced_urls(tmp_path) == [url]


def test_taken_fixed_port_falls_back_to_a_free_one(tmp_path: Path) -> None:
    """When the configured port is taken, the second app's endpoint binds another port and serves."""
    first, second = PipelineMetrics("span-ingest"), PipelineMetrics("trace-assembler")
    endpoint = serve_metrics(first, "127.0.0.1", 0)
    try:
        settings = Settings(metrics_port=endpoint.port, web_host="127.0.0.1", run_dir=tmp_path)
        port = start_metrics_server(settings, second)
        assert port not in (0, endpoint.port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            assert b'app="trace-assembler"' in resp.read()
    finally:
        endpoint.close()


def test_dashboard_scrape_reads_worker_figures_and_marks_dead_endpoints(tmp_path: Path) -> None:
    """Scraping sums each app's figures over partitions and reasons; an endpoint that is gone is down."""
    m = PipelineMetrics("trace-assembler")
    m.open_traces.set(12)
    m.spans_in.inc(1000)
    m.set_lag("spans", 0, 5)
    m.set_lag("spans", 1, 7)
    m.dlq_record("decode_error", 2)
    m.dlq_record("limit_exceeded")
    endpoint = serve_metrics(m, "127.0.0.1", 0)
    try:
        gone = serve_metrics(PipelineMetrics("x"), "127.0.0.1", 0)
        gone.close()
        live, dead = scrape_workers([endpoint.url, gone.url], timeout=5)
    finally:
        endpoint.close()
    assert live["app"] == "trace-assembler" and live["up"]
    assert (live["open_traces"], live["spans_in"], live["lag"], live["dlq"]) == (12, 1000, 12, 3)
    assert dead["up"] is False and dead["url"] == gone.url


def test_announcements_of_dead_processes_are_ignored(tmp_path: Path) -> None:
    """Only announcements whose process is alive are returned, sorted by file name."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (folder / f"red-metrics-{dead.pid}.url").write_text("http://127.0.0.1:1/metrics\n")
    (folder / f"alert-router-{os.getpid()}.url").write_text("http://127.0.0.1:2/metrics\n")
    (folder / "garbage.url").write_text("http://127.0.0.1:3/metrics\n")
    assert announced_urls(tmp_path) == ["http://127.0.0.1:2/metrics"]
    assert announced_urls(tmp_path / "nowhere") == []
