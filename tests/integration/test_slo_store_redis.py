"""RedisSloStore on a real Redis: idempotent contributions (Lua), bucket reads, state, pruning."""

from __future__ import annotations

import uuid

import pytest

from pipeline.adapters.redis.slo_store import RedisSloStore
from pipeline.domain.slo.store import BucketDelta, Contribution, InMemorySloStore

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def store(redis_url: str) -> RedisSloStore:
    return RedisSloStore.from_url(redis_url, prefix=f"test-{uuid.uuid4().hex[:8]}")


def test_contributions_are_idempotent_and_the_larger_total_wins(store: RedisSloStore) -> None:
    """The same contribution twice, or a smaller replay of it, changes nothing; a larger one adds the
    difference; the in-memory store agrees on every step."""
    memory = InMemorySloStore()
    steps = [
        [Contribution("a", 10, "red|k|p0", 90, 100), Contribution("a", 10, "red|k|p1", 50, 50)],
        [Contribution("a", 10, "red|k|p0", 90, 100)],
        [Contribution("a", 10, "red|k|p0", 10, 20)],
        [Contribution("a", 10, "red|k|p0", 95, 110), Contribution("a", 11, "red|k|p0", 1, 1)],
    ]
    expected = [
        [BucketDelta("a", 10, 90, 100), BucketDelta("a", 10, 50, 50)],
        [],
        [],
        [BucketDelta("a", 10, 5, 10), BucketDelta("a", 11, 1, 1)],
    ]
    for batch, want in zip(steps, expected, strict=True):
        assert store.apply(batch) == want
        assert memory.apply(batch) == want
    assert store.buckets("a", 0) == memory.buckets("a", 0) == {10: (145, 160), 11: (1, 1)}
    assert store.bucket_values("a", [9, 10, 11]) == {10: (145, 160), 11: (1, 1)}
    assert store.prune("a", 11) == 1 and store.buckets("a", 0) == {11: (1, 1)}


def test_state_status_and_counter_samples_round_trip(store: RedisSloStore) -> None:
    """Alert state, the latest status and newest counter samples are read back as written."""
    state = {"last_evaluated": 5, "firing": {"page_1h_5m": 123}}
    store.save_state("a", state, {"slo": "a", "policy_tier": "freeze"})
    assert store.load_state("a") == {"last_evaluated": 5, "firing": {"page_1h_5m": 123}}
    assert store.load_state("missing") is None
    assert store.statuses() == {"a": {"slo": "a", "policy_tier": "freeze"}}
    store.set_last_samples({"c{x=1}": (7, 2.5)})
    assert store.last_samples(["c{x=1}", "c{x=2}"]) == {"c{x=1}": (7, 2.5)}


def test_watermarks_only_rise_and_carry_the_report_time(store: RedisSloStore) -> None:
    """A lower minute never lowers a partition's watermark, but does refresh its report time."""
    store.report_watermarks({"metrics.red[0]": 10, "metrics.red[1]": 7}, 100.0)
    store.report_watermarks({"metrics.red[0]": 9}, 105.5)
    assert store.watermarks() == {"metrics.red[0]": (10, 105.5), "metrics.red[1]": (7, 100.0)}
    memory = InMemorySloStore()
    memory.report_watermarks({"metrics.red[0]": 10, "metrics.red[1]": 7}, 100.0)
    memory.report_watermarks({"metrics.red[0]": 9}, 105.5)
    assert memory.watermarks() == store.watermarks()
