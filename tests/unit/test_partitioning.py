"""obspipe's trace partitioner."""

from __future__ import annotations

import pytest

from pipeline.domain.partitioning import Bundler, fnv1a_32, partition_for_trace
from pipeline.domain.span import Span


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", 0x811C9DC5), (b"a", 0xE40C292C), (b"foobar", 0xBF9CF968)],
)
def test_fnv1a_32_matches_published_test_vectors(data: bytes, expected: int) -> None:
    """fnv1a_32 reproduces the FNV-1a 32-bit test vectors of the FNV reference (draft-eastlake-fnv)."""
    assert fnv1a_32(data) == expected


def test_partition_is_the_hash_of_the_id_bytes_modulo_the_count() -> None:
    """A trace id is hashed as its 16 bytes, not its hex text, then reduced modulo the partition count."""
    trace_id = "00000000000000000000000000000000"
    # Over 16 zero bytes the xor is a no-op, so FNV-1a is basis * prime^16 mod 2^32.
    expected = (0x811C9DC5 * pow(0x01000193, 16, 2**32)) % 2**32
    assert expected == 1768495365
    assert partition_for_trace(trace_id, 1000) == 365
    assert partition_for_trace(trace_id, 1000) != fnv1a_32(trace_id.encode()) % 1000


def test_same_trace_same_partition_and_all_partitions_used() -> None:
    """Equal ids map to equal partitions, and 1,000 distinct ids spread over all 8 partitions."""
    ids = [f"{i:032x}" for i in range(1, 1001)]
    parts = [partition_for_trace(t, 8) for t in ids]
    assert parts == [partition_for_trace(t, 8) for t in ids]
    assert set(parts) == set(range(8))
    assert max(parts.count(p) for p in range(8)) < 2 * 1000 / 8


def test_rejects_zero_partitions() -> None:
    """A partition count below one is a ValueError."""
    with pytest.raises(ValueError, match="partitions"):
        partition_for_trace("0" * 32, 0)


def _span(trace_id: str, span_id: int) -> Span:
    return Span(trace_id, f"{span_id:016x}", "op", 1, 2, "svc")


def test_bundles_hold_one_partition_each_and_respect_the_size_bound() -> None:
    """Every bundle holds spans of one partition only, at most max_spans of them, in input order."""
    traces = [f"{i:032x}" for i in range(1, 21)]
    spans = [_span(t, n) for n in range(5) for t in traces]  # 100 spans, interleaved traces
    bundler: Bundler[None] = Bundler(partitions=4, max_spans=7)
    bundles: dict[int, list[list[Span]]] = {}
    for bundle in [*bundler.add(spans, None), *bundler.drain()]:
        bundles.setdefault(bundle.partition, []).append(bundle.spans)
    seen: list[Span] = []
    for partition, group in bundles.items():
        for bundle in group:
            assert 1 <= len(bundle) <= 7
            assert {partition_for_trace(s.trace_id, 4) for s in bundle} == {partition}
        flat = [s for bundle in group for s in bundle]
        assert flat == [s for s in spans if partition_for_trace(s.trace_id, 4) == partition]
        # only the last bundle of a partition may be short
        assert all(len(b) == 7 for b in group[:-1])
        seen.extend(flat)
    assert sorted(id(s) for s in seen) == sorted(id(s) for s in spans)


def test_no_spans_no_bundles() -> None:
    """An empty input gives no bundles at all (no empty records are produced)."""
    bundler: Bundler[None] = Bundler(partitions=4, max_spans=10)
    assert bundler.add([], None) == []
    assert bundler.drain() == []


def test_bundler_hands_out_a_bundle_as_soon_as_it_is_full_with_each_spans_origin() -> None:
    """`add` returns a partition's bundle the moment it reaches max_spans (not at the end of the
    batch), each span paired with the origin it was added with; `drain` gives the rest once."""
    trace = "0" * 31 + "1"
    bundler: Bundler[str] = Bundler(partitions=4, max_spans=3)
    assert bundler.add([_span(trace, 1), _span(trace, 2)], "record-a") == []
    full = bundler.add([_span(trace, 3), _span(trace, 4)], "record-b")
    assert len(full) == 1
    assert full[0].partition == partition_for_trace(trace, 4)
    assert [s.span_id for s in full[0].spans] == [f"{i:016x}" for i in (1, 2, 3)]
    assert [full[0].origin(i) for i in range(3)] == ["record-a", "record-a", "record-b"]
    rest = bundler.drain()
    assert [(b.partition, [s.span_id for s in b.spans], b.origin(0)) for b in rest] == [
        (partition_for_trace(trace, 4), [f"{4:016x}"], "record-b")
    ]
    assert bundler.drain() == []


def test_bundler_rejects_bounds_below_one() -> None:
    """Zero partitions or a zero bundle size is a ValueError naming the bound."""
    with pytest.raises(ValueError, match="partitions"):
        Bundler(0, 10)
    with pytest.raises(ValueError, match="max_spans"):
        Bundler(4, 0)


def test_bundler_origins_follow_every_span_across_records_and_bundles() -> None:
    """Records larger than a bundle and bundles mixing records: every span's origin is the record
    it was added with, bundles stay within max_spans, and each partition keeps input order."""
    traces = [f"{i:032x}" for i in range(1, 9)]
    records = {name: [_span(t, n) for n in range(size) for t in traces] for name, size in
               (("r1", 2), ("r2", 1), ("r3", 3))}  # fmt: skip
    bundler: Bundler[str] = Bundler(partitions=3, max_spans=4)
    bundles = [b for name, spans in records.items() for b in bundler.add(spans, name)]
    bundles += bundler.drain()
    origin_of = {id(s): name for name, spans in records.items() for s in spans}
    for bundle in bundles:
        assert 1 <= len(bundle.spans) <= 4
        assert [bundle.origin(i) for i in range(len(bundle.spans))] == [
            origin_of[id(s)] for s in bundle.spans
        ]
    for partition in range(3):
        got = [s for b in bundles if b.partition == partition for s in b.spans]
        want = [
            s for spans in records.values() for s in spans if partition_for_trace(s.trace_id, 3) == partition
        ]
        assert got == want
