"""`obspipe demo`, bounded, on the session broker and Redis: the story shows on the output topics."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from pipeline.settings import Settings
from pipeline.testing.fixtures import TOPIC_FIELDS
from pipeline.testing.kafka import KafkaTestClient, Record, unique_name
from pipeline.testing.workers import settings_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DURATION_S = 60


def _latest_traces(records: list[Record]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        trace = orjson.loads(record.value)
        known = latest.get(trace["trace_id"])
        if known is None or known["revision"] < trace["revision"]:
            latest[trace["trace_id"]] = trace
    return latest


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, redis_url: str
) -> tuple[subprocess.CompletedProcess[str], Settings]:
    """One bounded demo run; its settings name the topics it wrote to."""
    suffix = unique_name("demo").split("-", 1)[1]
    topics = {name: f"{Settings.model_fields[name].default}-{suffix}" for name in TOPIC_FIELDS}
    settings = Settings(  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        run_dir=tmp_path_factory.mktemp("demo"),
        worker_group_prefix=f"demo-{suffix}",
        slo_state_prefix=f"demo-{suffix}",
        dashboard_port=0,
        **topics,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSPIPE_")}
    env.update(settings_env(settings))
    env["COLUMNS"] = "120"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pipeline.cli import main; sys.exit(main())",
            "demo",
            "--duration",
            str(DURATION_S),
            "--no-dashboard",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    return proc, settings


def test_demo_exits_zero_with_its_verdicts(
    demo_run: tuple[subprocess.CompletedProcess[str], Settings],
) -> None:
    """The demo ends with exit code 0 and a summary saying no span was lost."""
    proc, _ = demo_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "zero spans lost" in proc.stdout
    assert "incident paged once" in proc.stdout


def test_demo_incident_pages_the_oncall_person(
    demo_run: tuple[subprocess.CompletedProcess[str], Settings], kafka: KafkaTestClient
) -> None:
    """The payments outage produces an SLO burn page naming the on-call person; the CPU alert never pages."""
    _, s = demo_run

    def paged(records: list[Record]) -> bool:
        return any(orjson.loads(r.value)["decision"] == "page" for r in records)

    decisions = [
        orjson.loads(r.value) for r in kafka.consume_until(s.topic_pages, paged, timeout=60, settle=2)
    ]
    pages = [d for d in decisions if d["decision"] == "page"]
    assert pages and all("SLOBurnRate" in d["group_key"] for d in pages)
    assert pages[0]["oncall"] in {"alice", "bob"}
    cpu = [d for d in decisions if "HighCPUUsage" in d["group_key"]]
    assert cpu and all(d["decision"] != "page" for d in cpu)


def test_demo_corrects_the_skewed_host_and_links_both_ways(
    demo_run: tuple[subprocess.CompletedProcess[str], Settings], kafka: KafkaTestClient
) -> None:
    """payments-1's spans (clock 150 ms behind) are shifted; batch links resolve in both directions."""
    _, s = demo_run
    want_linked: Callable[[list[Record]], bool] = lambda rs: any(  # noqa: E731
        b'"linked_from":[{' in r.value for r in rs
    )
    traces = _latest_traces(kafka.consume_until(s.topic_traces, want_linked, timeout=60, settle=3))
    skewed = [
        span
        for t in traces.values()
        for span in t["spans"]
        if span["resource"].get("host.name") == "payments-1"
    ]
    assert skewed and any(span["clock_skew_ns"] > 0 for span in skewed)
    for t in traces.values():
        for span in t["spans"]:
            parent = next((p for p in t["spans"] if p["span_id"] == span["parent_span_id"]), None)
            if parent is not None and span["clock_skew_ns"]:
                assert span["adjusted_start_time_unix_nano"] >= parent["adjusted_start_time_unix_nano"]
    consumers = [t for t in traces.values() if any(link["trace_id"] != t["trace_id"] for link in t["links"])]
    assert consumers, "no batch consumer trace with links"
    batch = consumers[0]
    for link in batch["links"]:
        target = traces.get(link["trace_id"])
        assert target is not None, f"linked trace {link['trace_id']} never assembled"
        assert any(entry["trace_id"] == batch["trace_id"] for entry in target["linked_from"])
