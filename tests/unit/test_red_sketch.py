"""DDSketch: relative accuracy, merging and the JSON form."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain.red.sketch import DDSketch
from pipeline.errors import ValidationError

ALPHA = 0.01
# Bucket boundaries are computed with floating-point logarithms; allow that rounding on top of
# the 1 % guarantee, nothing more.
TOLERANCE = ALPHA * (1 + 1e-9)

values = st.lists(st.floats(min_value=1e-3, max_value=1e7, allow_nan=False), min_size=1, max_size=400)
quantile = st.sampled_from([0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0])


def exact(xs: list[float], q: float) -> float:
    return sorted(xs)[math.floor(q * (len(xs) - 1))]


@settings(max_examples=200, deadline=None)
@given(values, quantile)
def test_quantile_within_one_percent_of_exact(xs: list[float], q: float) -> None:
    """Every quantile estimate is within 1 % relative of the exact value of the same rank."""
    sketch = DDSketch(ALPHA)
    sketch.add_many(xs)
    estimate = sketch.quantile(q)
    assert estimate is not None
    truth = exact(xs, q)
    assert abs(estimate - truth) <= TOLERANCE * truth


@settings(max_examples=100, deadline=None)
@given(values, values)
def test_merge_equals_sketch_of_union(a: list[float], b: list[float]) -> None:
    """Merging two sketches gives the same buckets, count and quantiles as one sketch of both inputs."""
    left, right, union = DDSketch(), DDSketch(), DDSketch()
    left.add_many(a)
    right.add_many(b)
    union.add_many(a + b)
    left.merge(right)
    assert left.bins == union.bins
    assert left.count == len(a) + len(b)
    assert left.min == min(a + b) and left.max == max(a + b)
    for q in (0.5, 0.9, 0.99):
        estimate = left.quantile(q)
        assert estimate is not None
        assert abs(estimate - exact(a + b, q)) <= TOLERANCE * exact(a + b, q)


def test_uniform_latencies_percentiles_by_hand() -> None:
    """For 1..1000 ms, p50 is about 500 ms (rank 499 of 0..999) and p99 about 990 ms, within 1 %."""
    sketch = DDSketch()
    sketch.add_many(float(v) for v in range(1, 1001))
    p50, p99 = sketch.quantiles([0.5, 0.99])
    assert p50 is not None and abs(p50 - 500) <= 5
    assert p99 is not None and abs(p99 - 990) <= 9.9
    assert sketch.max == 1000.0


def test_zero_and_negative_values_count_as_zero() -> None:
    """Zero-length and negative durations are counted as zero, not dropped."""
    sketch = DDSketch()
    sketch.add_many([0.0, -3.0, 10.0])
    assert sketch.count == 3 and sketch.zero_count == 2
    assert sketch.quantile(0.5) == 0.0
    assert sketch.min == 0.0


def test_json_round_trip_keeps_quantiles() -> None:
    """A sketch rebuilt from its JSON form has the same buckets and totals."""
    sketch = DDSketch()
    sketch.add_many([0.0, 1.5, 2.0, 250.0, 251.0, 9000.0])
    again = DDSketch.from_json(sketch.to_json())
    assert again.bins == sketch.bins
    assert (again.count, again.zero_count, again.min, again.max) == (6, 1, 0.0, 9000.0)
    assert again.quantile(0.9) == sketch.quantile(0.9)


def test_json_counts_that_do_not_add_up_are_rejected() -> None:
    """A sketch whose bucket counts disagree with its count raises ValidationError."""
    data = DDSketch().to_json() | {"counts": [1, 2], "count": 5}
    with pytest.raises(ValidationError, match="add up"):
        DDSketch.from_json(data)


def test_merging_different_accuracies_is_refused() -> None:
    """Sketches with different relative accuracies have different buckets and cannot merge."""
    with pytest.raises(ValueError, match="relative accuracy"):
        DDSketch(0.01).merge(DDSketch(0.02))


def test_collapse_keeps_the_bucket_bound_and_the_count() -> None:
    """With a bucket bound, the lowest buckets fold together and high quantiles stay accurate."""
    sketch = DDSketch(max_buckets=50)
    sketch.add_many(float(2**i) for i in range(200))
    assert len(sketch.bins) == 50 and sketch.count == 200
    top = sketch.quantile(1.0)
    assert top is not None and abs(top - 2.0**199) <= TOLERANCE * 2.0**199


def test_count_at_most_threshold() -> None:
    """count_at_most counts values at or below a threshold when none lies within 1 % of it."""
    sketch = DDSketch()
    sketch.add_many([0.0, 10.0, 100.0, 290.0, 310.0, 1000.0])
    assert sketch.count_at_most(300.0) == 4
    assert sketch.count_at_most(5.0) == 1
