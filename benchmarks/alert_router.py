"""alert-router: alerts per CPU-second, of the pure routing core and of the real worker.

Input (the same records for every row): single Alertmanager alerts, GROUPS distinct alert
groups each re-sent REPEATS times (as Prometheus re-sends firing alerts every evaluation), so
GROUPS of the alerts make a decision (an immediate page or ticket: the alerts started 10 min
ago) and the rest only refresh their group. A mix of symptom and cause names, with a schedule.

Rows, all measured in this run:
1. baseline (pure): `orjson.loads` of every record, nothing else;
2. pure core: decode + `AlertPipeline.on_alert` (classify, route, group, mute, notify, count
   per shift) + `orjson.dumps` of each decision;
3. baseline (Kafka): a plain confluent-kafka loop in this process: consume -> orjson.loads ->
   produce one record per new group key;
4. alert-router worker: a real `obspipe worker alert-router` subprocess (both stages: intake to
   the routing topic, then routing with state and outbox saved in Redis before each batch's
   outputs), its CPU read from /proc, measured after a warm-up record has gone through; done
   when the last group's decision is on alerts.pages.

Acceptance: the worker sustains >= 5,000 alerts/s on one core (alerts per CPU-second).
Run: .venv/bin/python benchmarks/alert_router.py [--groups 1000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.adapters.infra import ensure_kafka, ensure_redis  # noqa: E402
from pipeline.adapters.kafka.config import consumer_config, producer_config  # noqa: E402
from pipeline.adapters.kafka.topics import create_topics  # noqa: E402
from pipeline.domain.alerting.config import build_alert_config  # noqa: E402
from pipeline.domain.alerting.model import decode_alerts  # noqa: E402
from pipeline.domain.alerting.pipeline import AlertPipeline  # noqa: E402
from pipeline.domain.alerting.schedule import build_schedule  # noqa: E402
from pipeline.domain.alerting.stats import PagingStats  # noqa: E402
from pipeline.settings import Settings, load_settings  # noqa: E402
from pipeline.testing.bench import Elapsed, measured, process_cpu_s  # noqa: E402
from pipeline.testing.workers import WorkerProcess  # noqa: E402
from stream_apps.common import GC_THRESHOLDS  # noqa: E402

NAMES = ("HighErrorRate", "APIHighLatency", "HighCPUUsage", "InstanceDown", "DiskWillFillIn4Hours",
         "SLOBurnRate", "BlackboxProbeFailed", "ContainerMemoryNearLimit")
KEY = None
# One partition: the last record (a new group) is then consumed last, so its decision marks the end.
PARTITIONS = 1
SCHEDULE_YAML = """
timezones: {alice: Europe/Berlin, bob: America/New_York}
rotations:
  - {id: primary, participants: [alice, bob], shift_length: 12h, handoff: "08:00",
     time_zone: Europe/Berlin, start: 2026-01-05}
"""


def alert_records(groups: int, repeats: int, tag: str = "") -> list[bytes]:
    start = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    records = []
    for r in range(repeats):
        for g in range(groups):
            labels = {"alertname": NAMES[g % len(NAMES)], "service": f"svc{g:05d}{tag}",
                      "instance": f"host{g % 13}:9100", "severity": "critical", "team": f"t{g % 7}"}
            records.append(orjson.dumps({"labels": labels, "startsAt": start, "status": "firing",
                                         "annotations": {"summary": f"alert {g} repeat {r}",
                                                         "runbook_url": "https://runbooks/x"}}))
    return records


def pure_baseline(records: list[bytes]) -> Elapsed:
    with measured() as elapsed:
        for value in records:
            orjson.loads(value)
    return elapsed


def pure_core(records: list[bytes]) -> tuple[Elapsed, int]:
    config = build_alert_config()
    schedule = build_schedule(orjson.loads(orjson.dumps(_yaml(SCHEDULE_YAML))))
    pipeline = AlertPipeline(config.build_router(schedule=schedule), PagingStats(schedule))
    decided = 0
    now = time.time()
    with measured() as elapsed:
        for i, value in enumerate(records):
            t = now + i * 0.001
            for alert in decode_alerts(orjson.loads(value), default_now=t):
                for d in pipeline.on_alert(alert, t).decisions:
                    orjson.dumps(d.to_json())
                    decided += 1
    return elapsed, decided


def _yaml(text: str) -> object:
    import yaml

    return yaml.safe_load(text)


def produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = Producer(producer_config(settings))
    for value in values:
        producer.produce(topic, value, KEY)
        producer.poll(0)
    assert producer.flush(120) == 0


def kafka_baseline(settings: Settings, topic: str, out_topic: str, total: int) -> Elapsed:
    consumer = Consumer(consumer_config(settings, f"plain-{uuid.uuid4().hex[:8]}", enable_auto_commit=False))
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.topic_partitions)])
    producer = Producer(producer_config(settings))
    seen_keys: set[tuple[str, str]] = set()
    seen = 0
    with measured(gc_thresholds=GC_THRESHOLDS) as elapsed:
        while seen < total:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                if msg.error() is not None:
                    continue
                doc = orjson.loads(msg.value() or b"{}")
                key = (doc["labels"]["alertname"], doc["labels"]["service"])
                if key not in seen_keys:
                    seen_keys.add(key)
                    producer.produce(out_topic, msg.value(), key[1].encode())
                seen += 1
            producer.poll(0)
        producer.flush(60)
    consumer.close()
    return elapsed


def wait_for_service(settings: Settings, service: str, timeout: float) -> float:
    """Read alerts.pages until a decision about `service` appears; returns when (monotonic)."""
    consumer = Consumer(consumer_config(settings, f"bench-{uuid.uuid4().hex[:8]}", enable_auto_commit=False))
    consumer.assign([TopicPartition(settings.topic_pages, p, OFFSET_BEGINNING)
                     for p in range(settings.topic_partitions)])
    deadline = time.monotonic() + timeout
    needle = f'service=\\"{service}\\"'.encode()
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.2):
                if msg.error() is None and needle in (msg.value() or b""):
                    return time.monotonic()
        raise TimeoutError(f"no decision for {service} on {settings.topic_pages} after {timeout}s")
    finally:
        consumer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    records = alert_records(args.groups, args.repeats)
    total = len(records)
    print(f"alert-router benchmark: {total} alerts ({args.groups} groups x {args.repeats} sends)", flush=True)

    base_pure = pure_baseline(records)
    core, decided = pure_core(records)

    run_dir = Path(tempfile.mkdtemp(prefix="obspipe-bench-alerts-"))
    base = load_settings(run_dir=run_dir)
    bootstrap, broker = ensure_kafka(base)
    redis_url, redis_server = ensure_redis(base)
    try:
        suffix = uuid.uuid4().hex[:8]
        schedule_path = run_dir / "schedule.yaml"
        schedule_path.write_text(SCHEDULE_YAML)
        settings = load_settings(
            kafka_bootstrap=bootstrap, redis_url=redis_url, run_dir=run_dir,
            topic_alerts_raw=f"bench-alerts-{suffix}", topic_pages=f"bench-pages-{suffix}",
            topic_oncall_stats=f"bench-stats-{suffix}", topic_dlq=f"bench-dlq-{suffix}",
            worker_group_prefix=f"bench-{suffix}", alert_state_prefix=f"bench-{suffix}",
            schedule_file=schedule_path, topic_partitions=PARTITIONS,
        )
        create_topics(settings)
        plain_in, plain_out = f"bench-plain-in-{suffix}", f"bench-plain-out-{suffix}"
        create_topics(settings.model_copy(update={"topic_alerts_raw": plain_in, "topic_pages": plain_out}))
        produce(settings, plain_in, records)
        plain = kafka_baseline(settings, plain_in, plain_out, total)

        warm = alert_records(1, 1, tag="-warm")
        produce(settings, settings.topic_alerts_raw, warm)
        worker = WorkerProcess("alert-router", settings, run_dir / "worker.log").start()
        try:
            wait_for_service(settings, "svc00000-warm", timeout=180)
            cpu0, wall0 = process_cpu_s(worker.pid), time.monotonic()
            sentinel = alert_records(1, 1, tag="-last")
            produce(settings, settings.topic_alerts_raw, records + sentinel)
            end = wait_for_service(settings, "svc00000-last", timeout=600)
            worker_cpu, worker_wall = process_cpu_s(worker.pid) - cpu0, end - wall0
        finally:
            worker.stop()
    finally:
        for server in (broker, redis_server):
            if server is not None:
                server.stop()

    rows = [
        ("orjson.loads only (pure baseline)", base_pure.cpu_s, base_pure.wall_s, base_pure),
        ("pure routing core", core.cpu_s, core.wall_s, base_pure),
        ("plain confluent-kafka loop (baseline)", plain.cpu_s, plain.wall_s, plain),
        ("alert-router worker (faust, Redis)", worker_cpu, worker_wall, plain),
    ]
    print(f"decisions by the pure core: {decided}")
    print(f"{'':40} {'alerts':>8} {'CPU s':>7} {'wall s':>7} {'alerts/CPU-s':>13} {'vs baseline':>11}")
    for name, cpu, wall, ref in rows:
        rate = total / cpu
        ratio = rate / (total / ref.cpu_s)
        print(f"{name:40} {total:>8} {cpu:>7.2f} {wall:>7.2f} {rate:>13,.0f} {ratio:>11.2f}")
    worker_rate = total / worker_cpu
    verdict = "PASS" if worker_rate >= 5000 else "FAIL"
    print(f"acceptance (worker >= 5,000 alerts per CPU-second): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
