"""The red-metrics and slo-burn runtimes with an in-memory producer: acks wait for delivery."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson

from pipeline.adapters.kafka.acking_producer import AckingProducer
from pipeline.adapters.red_runtime import RedRuntime
from pipeline.adapters.slo_runtime import InputRecord, SloRuntime
from pipeline.domain.codec import encode_bundle
from pipeline.domain.slo.definitions import SloDefinition, SpanSli
from pipeline.domain.slo.store import InMemorySloStore
from pipeline.domain.span import Span
from pipeline.errors import RecordError

S = 1_000_000_000
MINUTE = 60 * S
T0 = 28_333_340 * MINUTE


class HeldDeliveries:
    """A confluent-kafka Producer stand-in whose deliveries happen when the test says."""

    def __init__(self) -> None:
        self.pending: list[tuple[Any, str, bytes, bytes | None]] = []
        self.delivered: list[tuple[str, bytes, bytes | None]] = []

    def produce(self, topic: str, value: bytes, key: bytes | None = None, **kw: Any) -> None:
        self.pending.append((kw["on_delivery"], topic, value, key))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return len(self.pending)

    def deliver_all(self) -> None:
        pending, self.pending = self.pending, []
        for callback, topic, value, key in pending:
            self.delivered.append((topic, value, key))
            callback(None, None)


class Event:
    def __init__(self, name: str, acked: list[str]) -> None:
        self.name = name
        self.acked = acked

    def ack(self) -> None:
        self.acked.append(self.name)


def span(end_s: float, error: bool = False) -> Span:
    end = T0 + int(end_s * S)
    return Span("a" * 32, "b" * 16, "GET /", end - 5_000_000, end, "api", kind="SERVER",
                status_code="ERROR" if error else "OK")


def red_runtime(fake: HeldDeliveries, dead: list[RecordError]) -> RedRuntime:
    def dead_letter(pos: Any, value: Any, key: Any, exc: RecordError, handle: Any) -> None:
        dead.append(exc)
        handle.ack()

    return RedRuntime(
        producer=AckingProducer(fake),  # type: ignore[arg-type]
        ack=lambda event: event.ack(), dead_letter=dead_letter, topic_red="metrics.red",
        source_topic="spans", window_s=10, allowed_lateness_s=0, idle_flush_s=5.0,
    )


def test_red_bundle_is_acked_only_after_its_window_is_delivered() -> None:
    """A bundle's event is acked after the record of its window is delivered, not when it is produced."""
    fake, acked, dead = HeldDeliveries(), [], []
    rt = red_runtime(fake, dead)
    first = encode_bundle([span(1), span(2, error=True)])
    rt.add_bundle(("spans", 0, 0), first, None, Event("e0", acked), 0.0)
    rt.add_bundle(("spans", 0, 1), encode_bundle([span(12)]), None, Event("e1", acked), 0.1)  # closes [0, 10)
    assert len(fake.pending) == 1 and acked == []
    fake.deliver_all()
    assert acked == ["e0"]
    topic, value, key = fake.delivered[0]
    doc = orjson.loads(value)
    assert (topic, key) == ("metrics.red", f"api|GET /|SERVER|{T0}".encode())
    assert (doc["requests"], doc["errors"], doc["source"]) == (2, 1, "spans[0]")
    assert rt.tick(now=10.0) == 1  # idle for 5 s: [10, 20) is flushed
    fake.deliver_all()
    assert acked == ["e0", "e1"]


def test_red_bad_bundle_is_dead_lettered() -> None:
    """A bundle that is not JSON goes to the dead-letter policy with a decode reason."""
    fake, acked, dead = HeldDeliveries(), [], []
    rt = red_runtime(fake, dead)
    rt.add_bundle(("spans", 0, 0), b"[{oops", None, Event("bad", acked), 0.0)
    assert acked == ["bad"] and dead[0].reason == "decode_error"


def test_red_revoked_partition_acks_nothing_later() -> None:
    """After a revoke, a late delivery of the partition's window acks nothing (the new owner replays)."""
    fake, acked, dead = HeldDeliveries(), [], []
    rt = red_runtime(fake, dead)
    rt.add_bundle(("spans", 3, 0), encode_bundle([span(1), span(2), span(15)]), None, Event("e0", acked), 0.0)
    rt.revoke([3])
    fake.deliver_all()
    assert acked == []


def red_value(minute: int, requests: int, errors: int) -> bytes:
    return orjson.dumps({
        "schema": "red_metrics/v1", "service": "api", "operation": "GET /", "kind": "SERVER",
        "window_start_unix_nano": T0 + minute * MINUTE, "window_s": 10, "requests": requests,
        "errors": errors, "source": "p0",
    })


def slo_runtime(fake: HeldDeliveries, store: InMemorySloStore) -> SloRuntime:
    sli = SpanSli("error_ratio", "api")
    slo = SloDefinition("api", Fraction(999, 1000), "99.9", 43200, "30d", "api", sli)
    rt = SloRuntime(
        slos=[slo], store=store, producer=AckingProducer(fake),  # type: ignore[arg-type]
        ack=lambda event: event.ack(), dead_letter=lambda *a: None,
        topic_status="slo.status", topic_alerts="alerts.raw",
    )
    rt.load()
    return rt


def test_slo_batch_acked_and_state_saved_only_after_statuses_are_delivered(tmp_path: Path) -> None:
    """Minute 0 is evaluated when minute 1 arrives; the state is saved and the batch acked after delivery;
    a new runtime on the same store resumes from it without re-counting."""
    fake, acked, store = HeldDeliveries(), [], InMemorySloStore()
    rt = slo_runtime(fake, store)
    batch = [InputRecord(("metrics.red", 0, i), red_value(m, 1000, 1), None, Event(f"r{i}", acked))
             for i, m in enumerate((0, 1))]
    rt.add_red_batch(batch)
    assert [t for _, t, _, _ in fake.pending] == ["slo.status"] and acked == []
    assert store.load_state("api") is None
    fake.deliver_all()
    assert acked == ["r0", "r1"]
    assert store.load_state("api") == {"last_evaluated": T0 // MINUTE, "firing": {}}
    status = orjson.loads(fake.delivered[0][1])
    # 1 bad of 1000 at 99.9 %: burn rate exactly 1, which exceeds no threshold: no alert.
    assert (status["period_total"], status["period_good"], status["burn_rates"]["5m"]) == (1000, 999, 1.0)
    again = slo_runtime(HeldDeliveries(), store)
    replayed = InputRecord(("metrics.red", 0, 0), red_value(0, 1000, 1), None, Event("dup", acked))
    again.add_red_batch([replayed])
    assert store.buckets("api", 0) == {T0 // MINUTE: (999, 1000), T0 // MINUTE + 1: (999, 1000)}
    assert again.evaluators["api"].last_evaluated == T0 // MINUTE


def test_two_workers_share_one_store_and_only_the_owner_evaluates() -> None:
    """Two workers each consume half the traffic; the SLO's owner evaluates a minute only once both
    input partitions have moved past it, with both halves; after a rebalance the other worker takes
    over from the stored state without re-evaluating."""
    from pipeline.domain.partitioning import fnv1a_32

    store = InMemorySloStore()
    fakes = [HeldDeliveries(), HeldDeliveries()]
    workers = [slo_runtime(fake, store) for fake in fakes]
    owner = fnv1a_32(b"api") % 2
    other = 1 - owner
    for i, rt in enumerate(workers):
        rt.partitions = 2
        rt.assign({i})
    acked: list[str] = []

    def feed(worker: int, offset: int, minute: int, errors: int) -> None:
        value = orjson.loads(red_value(minute, 500, errors)) | {"source": f"p{worker}"}
        event = Event(f"{worker}@{offset}", acked)
        rec = InputRecord(("r", worker, offset), orjson.dumps(value), None, event)
        workers[worker].add_red_batch([rec])

    feed(other, 0, 0, 1)
    assert fakes[other].pending == []  # not the owner: evaluates nothing
    feed(owner, 0, 0, 0)
    feed(owner, 1, 1, 0)
    assert fakes[owner].pending == []  # the other partition has not reached minute 1 yet
    feed(other, 1, 1, 0)
    workers[owner].tick()  # the owner's timer: both partitions are at minute 1 now
    fakes[owner].deliver_all()
    status = orjson.loads(fakes[owner].delivered[0][1])
    assert status["evaluated_at_unix_nano"] == T0 + MINUTE
    assert (status["period_total"], status["period_good"]) == (1000, 999)
    # Rebalance: the other worker now owns everything and continues after minute 0.
    workers[other].assign({0, 1})
    feed(other, 2, 2, 0)
    feed(owner, 2, 2, 0)  # a late batch of the old owner's partition is still stored
    workers[other].tick()
    fakes[other].deliver_all()
    minutes = [orjson.loads(v)["evaluated_at_unix_nano"] for _, v, _ in fakes[other].delivered]
    assert minutes == [T0 + 2 * MINUTE]  # minute 1 only: minute 0 was evaluated by the old owner
    assert orjson.loads(fakes[other].delivered[0][1])["period_total"] == 2000
