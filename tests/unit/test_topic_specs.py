"""The topic list of DESIGN.md §3, from settings."""

from __future__ import annotations

from pipeline.adapters.kafka.topics import topic_specs
from pipeline.settings import load_settings


def test_every_design_topic_with_settings_partitions_and_retention() -> None:
    """All eleven topics are specified with the configured names, partition count and a retention per role."""
    settings = load_settings(topic_partitions=6, topic_dlq="dead", topic_spans_in="in")
    specs = {spec.name: spec for spec in topic_specs(settings)}
    assert set(specs) == {
        "in", "obspipe.spans-by-trace", "obspipe.links", "traces.assembled", "otlp_metrics",
        "metrics.red", "slo.status", "alerts.raw", "alerts.pages", "oncall.stats", "dead",
    }  # fmt: skip
    assert {spec.partitions for spec in specs.values()} == {6}
    day = 24 * 3600 * 1000
    assert specs["in"].config["retention.ms"] == str(day)
    assert specs["traces.assembled"].config["retention.ms"] == str(7 * day)
    assert specs["dead"].config["retention.ms"] == str(14 * day)
    # links are co-partitioned with span bundles: the assembler relies on it
    assert specs["obspipe.links"].partitions == specs["obspipe.spans-by-trace"].partitions
