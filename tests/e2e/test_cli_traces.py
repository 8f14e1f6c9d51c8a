"""`obspipe traces tail` and `obspipe trace show`, run as the real console script."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from pipeline.adapters.redis.trace_index import RedisTraceIndex
from pipeline.domain.assembly import assemble_trace
from pipeline.domain.span import Span
from pipeline.settings import Settings
from pipeline.testing.kafka import KafkaTestClient
from pipeline.testing.workers import settings_env

pytestmark = pytest.mark.timeout(180)
MS = 1_000_000
T0 = 1_700_000_000_000 * MS


def obspipe(settings: Settings, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSPIPE_")}
    env.update(settings_env(settings))
    entry = "import sys; from pipeline.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", entry, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def skewed_trace(error: bool = False) -> dict[str, Any]:
    """Root on host a (0-100 ms); its child on host b claims to start 20 ms before the root."""
    trace_id = uuid.uuid4().hex
    root = Span(trace_id, "a" * 16, "GET /checkout", T0, T0 + 100 * MS, "web", kind="SERVER",
                resource={"service.name": "web", "host.name": "a"})  # fmt: skip
    child = Span(trace_id, "b" * 16, "charge", T0 - 20 * MS, T0 + 20 * MS, "payments", kind="SERVER",
                 parent_span_id=root.span_id, status_code="ERROR" if error else "UNSET",
                 resource={"service.name": "payments", "host.name": "b"})  # fmt: skip
    return assemble_trace(trace_id, [root, child])


def test_trace_show_prints_waterfall_with_critical_path_and_diagnostics(
    obspipe_settings: Callable[..., Settings], redis_url: str
) -> None:
    """The waterfall shows spans in tree order, the critical-path mark, skew corrections and diagnostics."""
    settings = obspipe_settings(redis_url=redis_url, trace_index_prefix=f"e2e-{uuid.uuid4().hex[:8]}")
    doc = skewed_trace(error=True)
    index = RedisTraceIndex.from_url(redis_url, prefix=settings.trace_index_prefix).start()
    index.put(doc)
    assert index.flush(30)
    index.shutdown()
    result = obspipe(settings, "trace", "show", doc["trace_id"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("GET /checkout") < out.index("charge")
    # Shorter than its parent, the child is centred: (100 - 40) / 2 = 30 ms after the parent's
    # start, i.e. shifted by +50 ms from its raw start at -20 ms.
    assert "skew +50.000ms" in out
    assert "CLOCK_SKEW_ADJUSTED" in out
    assert "ERROR" in out
    assert out.count("◆") >= 2  # the legend and at least the root
    shown = obspipe(settings, "trace", "show", doc["trace_id"], "--json")
    assert orjson.loads(shown.stdout)["trace_id"] == doc["trace_id"]


def test_trace_show_unknown_id_fails_with_one_line(
    obspipe_settings: Callable[..., Settings], redis_url: str
) -> None:
    """An id that is not in the index gives exit code 1 and a one-line message."""
    settings = obspipe_settings(redis_url=redis_url)
    result = obspipe(settings, "trace", "show", "f" * 32)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "not in the index" in result.stderr


def test_traces_tail_filters_errors_and_prints_one_line_each(
    obspipe_settings: Callable[..., Settings], kafka: KafkaTestClient
) -> None:
    """`traces tail --errors` prints only the erroring traces, one summary line each, in arrival order."""
    settings = obspipe_settings()
    kafka.create_topic(settings.topic_traces, 1)
    docs = [skewed_trace(error=False), skewed_trace(error=True), skewed_trace(error=True)]
    kafka.produce(settings.topic_traces, [orjson.dumps(d) for d in docs])
    result = obspipe(settings, "traces", "tail", "--from-beginning", "--errors", "--limit", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[1] for line in lines] == [docs[1]["trace_id"], docs[2]["trace_id"]]
    assert all("r1:idle" in line and "errors=1" in line and "CLOCK_SKEW_ADJUSTED" in line for line in lines)
    as_json = obspipe(settings, "traces", "tail", "--from-beginning", "--json", "--limit", "3")
    assert [orjson.loads(x)["trace_id"] for x in as_json.stdout.splitlines()] == [d["trace_id"] for d in docs]
