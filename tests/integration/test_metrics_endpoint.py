"""The worker metrics endpoint over real HTTP."""

from __future__ import annotations

import urllib.request

import pytest

from pipeline.adapters.observability import PipelineMetrics, serve_metrics, start_metrics_server
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


def test_start_metrics_server_uses_settings() -> None:
    """start_metrics_server binds settings.web_host and returns the port it got."""
    m = PipelineMetrics("slo-burn")
    m.spans_in.inc(9)
    port = start_metrics_server(Settings(metrics_port=0, web_host="127.0.0.1"), m)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert b'obspipe_spans_in_total{app="slo-burn"} 9.0' in resp.read()


def test_taken_fixed_port_falls_back_to_a_free_one() -> None:
    """When the configured port is taken, the second app's endpoint binds another port and serves."""
    first, second = PipelineMetrics("span-ingest"), PipelineMetrics("trace-assembler")
    endpoint = serve_metrics(first, "127.0.0.1", 0)
    try:
        settings = Settings(metrics_port=endpoint.port, web_host="127.0.0.1")
        port = start_metrics_server(settings, second)
        assert port not in (0, endpoint.port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            assert b'app="trace-assembler"' in resp.read()
    finally:
        endpoint.close()
