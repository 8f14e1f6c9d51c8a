"""The alert-router runtime with an in-memory producer and state store: save before send, acks after
delivery and save, paging on while the store is down, outbox re-sent by a new owner."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.adapters.alert_runtime import LOAD_GRACE_S, AlertIntake, AlertRouterRuntime, decode_raw
from pipeline.adapters.kafka.acking_producer import AckingProducer
from pipeline.domain.alerting.bundle import decode_bundle, encode_bundles
from pipeline.domain.alerting.config import build_alert_config
from pipeline.domain.alerting.store import Changes, InMemoryAlertState, OutboxRecord, PartitionState
from pipeline.errors import RecordError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_assembler_runtime import MemoryProducer

ALERT = orjson.dumps({"labels": {"alertname": "HighErrorRate", "service": "api"},
                      "startsAt": "1970-01-01T00:00:00Z", "annotations": {"runbook_url": "r"}})
(BUNDLE,) = encode_bundles([(600.0, decode_raw(ALERT, 600.0)[0])])


class Event:
    def __init__(self) -> None:
        self.acked = False

    def ack(self) -> None:
        self.acked = True


class FlakyStore(InMemoryAlertState):
    """The in-memory store, unreachable while `down` is set (as Redis would be)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def save(self, partition: int, changes: Changes) -> None:
        if self.down:
            raise ConnectionError("store down")
        super().save(partition, changes)

    def load(self, partition: int) -> PartitionState:
        if self.down:
            raise ConnectionError("store down")
        return super().load(partition)


def runtime(store: InMemoryAlertState) -> tuple[AlertRouterRuntime, MemoryProducer, list[RecordError]]:
    raw = MemoryProducer()
    dead: list[RecordError] = []
    rt = AlertRouterRuntime(
        config=build_alert_config(transient_window_s=0), schedule=None, store=store,
        producer=AckingProducer(raw),  # type: ignore[arg-type]
        topic_pages="pages", topic_stats="stats", dead_letter=lambda pos, v, k, exc, ev: dead.append(exc))
    rt.assign([0])
    return rt, raw, dead


def record(value: bytes, event: Any, ts: float = 600.0) -> tuple[Any, ...]:
    return ("alerts.raw", 0, 1), value, b"k", event, ts


def test_input_is_acked_after_delivery_and_state_is_saved_before() -> None:
    """The page is in the store's outbox before it is produced; the ack waits for delivery."""
    store = FlakyStore()
    rt, raw, _ = runtime(store)
    event = Event()
    rt.add_bundles([record(BUNDLE, event)])
    (page_id,) = store.partitions[0].outbox  # saved before sending
    assert len(raw.pending) == 1 and not event.acked
    raw.poll()
    assert event.acked
    assert orjson.loads(raw.delivered[0][1])["id"] == page_id
    assert store.partitions[0].outbox == {}  # delivered: the outbox entry is gone
    assert store.partitions[0].nflog  # the notification log says "sent"


def test_store_down_keeps_paging_and_holds_the_ack_until_it_returns() -> None:
    """With the store unreachable the page still goes out, the input stays unacked; a retry saves
    the state and releases the ack (static stability)."""
    store = FlakyStore()
    rt, raw, _ = runtime(store)
    store.down = True
    event = Event()
    rt.add_bundles([record(BUNDLE, event)])
    raw.poll()
    assert len(raw.delivered) == 1 and not event.acked
    assert 0 not in store.partitions or not store.partitions[0].nflog
    store.down = False
    asyncio.run(rt.retry_saves(1000.0))
    raw.poll()
    assert event.acked and store.partitions[0].nflog


def test_new_owner_resends_the_outbox_with_the_same_id() -> None:
    """Outbox entries left by a crashed owner are produced again, unchanged, on assignment."""
    store = FlakyStore()
    store.save(0, Changes(outbox={"abc-1": OutboxRecord("abc-1", "pages", "g", b'{"id":"abc-1"}')}))
    _rt, raw, _ = runtime(store)
    assert [(t, v) for t, v, *_ in raw.pending] == [("pages", b'{"id":"abc-1"}')]
    raw.poll()
    assert store.partitions[0].outbox == {}


@pytest.mark.parametrize("value", [b"", b"{nope", b'{"labels": {"a": 1}}'])
def test_intake_dead_letters_bad_records_and_bundles_the_rest(value: bytes) -> None:
    """Empty, non-JSON and invalid alerts go to the dead-letter policy; the good record's alert is
    forwarded in one bundle to partition 0 of the routing topic, and acked on delivery."""
    raw = MemoryProducer()
    dead: list[RecordError] = []
    intake = AlertIntake(AckingProducer(raw), "routing",  # type: ignore[arg-type]
                         lambda pos, v, k, exc, ev: dead.append(exc))
    good, bad = Event(), Event()
    intake.add_records([record(ALERT, good, 5.0), record(value, bad)])
    assert len(dead) == 1 and dead[0].reason in ("decode_error", "validation_error")
    ((topic, bundle, _key, kw, _cb),) = raw.pending
    assert (topic, kw.get("partition")) == ("routing", 0)
    ((ts, alert),) = decode_bundle(bundle)
    assert (ts, alert.name) == (5.0, "HighErrorRate")
    raw.poll()
    assert good.acked and not bad.acked  # the bad one is acked by the dead-letter policy


def test_corrupt_bundle_goes_to_the_dead_letter_policy() -> None:
    """A routing-topic record that is not a bundle is dead-lettered, not routed."""
    rt, raw, dead = runtime(FlakyStore())
    rt.add_bundles([record(b'{"not": "a bundle"}', Event())])
    assert [e.reason for e in dead] == ["decode_error"] and raw.pending == []


def pages_sent(raw: MemoryProducer) -> list[dict[str, Any]]:
    return [orjson.loads(value) for topic, value, *_ in raw.delivered + raw.pending if topic == "pages"]


def test_new_owner_routes_nothing_until_the_state_loads() -> None:
    """A page delivered by the previous owner whose input was not committed is not sent again by a
    new owner that could not load the state at first: the replayed bundle waits for the load."""
    store = FlakyStore()
    first, first_raw, _ = runtime(store)
    first.add_bundles([record(BUNDLE, Event())])
    first_raw.poll()  # paged and delivered; the worker dies before its offset is committed
    assert len(pages_sent(first_raw)) == 1
    store.down = True
    second, raw, _ = runtime(store)  # assign() cannot load the state
    replayed = Event()
    second.add_bundles([record(BUNDLE, replayed)])
    raw.poll()
    assert raw.delivered == [] and not replayed.acked  # parked, not routed on empty state
    store.down = False
    asyncio.run(second.retry_loads())
    raw.poll()
    assert pages_sent(raw) == [] and replayed.acked  # routed on the loaded log: no second page


def test_state_that_never_loads_is_routed_empty_after_the_grace() -> None:
    """Past LOAD_GRACE_S of load failures the parked records are routed on empty state (static
    stability: a store outage delays pages, it does not stop them)."""
    store = FlakyStore()
    store.down = True
    now = [0.0]
    raw = MemoryProducer()
    rt = AlertRouterRuntime(
        config=build_alert_config(transient_window_s=0), schedule=None, store=store,
        producer=AckingProducer(raw), topic_pages="pages", topic_stats="stats",  # type: ignore[arg-type]
        dead_letter=lambda *_: None, clock=lambda: now[0])
    rt.assign([0])
    rt.add_bundles([record(BUNDLE, Event())])
    now[0] = LOAD_GRACE_S - 1
    asyncio.run(rt.retry_loads())
    assert pages_sent(raw) == []
    now[0] = LOAD_GRACE_S + 1
    asyncio.run(rt.retry_loads())
    assert [p["decision"] for p in pages_sent(raw)] == ["page"]


def test_bundles_taken_before_a_revocation_are_not_routed() -> None:
    """After the routing partition moves to another worker, bundles this worker had already taken
    are left to the new owner: no router is revived for the partition here."""
    store = FlakyStore()
    rt, raw, _ = runtime(store)
    rt.revoke([0])
    rt.assign([])
    leftover = Event()
    rt.add_bundles([record(BUNDLE, leftover)])
    raw.poll()
    assert pages_sent(raw) == [] and not leftover.acked
    assert 0 not in rt.partitions and rt.counters.stale_records == 1
