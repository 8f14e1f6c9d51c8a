"""Fingerprints and matchers follow Alertmanager / prometheus/common semantics."""

from __future__ import annotations

import pytest

from pipeline.domain.alerting.fingerprint import fingerprint, label_signature
from pipeline.domain.alerting.matchers import parse_matcher, parse_matchers
from pipeline.errors import ConfigError


def test_empty_label_set_hashes_to_fnv_offset_basis() -> None:
    """The empty label set's signature is the FNV-1a 64 offset basis (prometheus/common test vector)."""
    assert label_signature({}) == 14695981039346656037


def test_signature_matches_prometheus_published_vector() -> None:
    """A two-label set hashes to the value in prometheus/common's signature_test.go."""
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert label_signature(labels) == 5799056148416392346


def test_fingerprint_ignores_label_order_and_prints_16_hex() -> None:
    """Insertion order does not change the fingerprint, printed as Alertmanager's %016x."""
    a = fingerprint({"a": "1", "b": "2"})
    assert a == fingerprint({"b": "2", "a": "1"})
    assert a == f"{label_signature({'a': '1', 'b': '2'}):016x}" and len(a) == 16


def test_separator_byte_keeps_name_value_boundaries() -> None:
    """Moving characters between a name and its value changes the fingerprint."""
    assert fingerprint({"ab": "c"}) != fingerprint({"a": "bc"})


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('env="prod"', {"env": "prod"}, True),
        ('env="prod"', {"env": "production"}, False),
        ('env!="prod"', {}, True),  # a missing label has the empty value
        ('env=""', {}, True),
        ('env=~"prod"', {"env": "production"}, False),  # regexes are fully anchored
        ('env=~"prod.*"', {"env": "production"}, True),
        ('env=~"a|b"', {"env": "b"}, True),
        ('env!~"a|b"', {"env": "ab"}, True),
        ("env=~(?i)PROD", {"env": "prod"}, True),
        ("env = prod", {"env": "prod"}, True),
    ],
)
def test_matcher_semantics(text: str, labels: dict[str, str], expected: bool) -> None:
    """Each operator matches as Alertmanager's labels.Matcher does."""
    assert parse_matcher(text).matches(labels) is expected


def test_matcher_list_with_commas_inside_quotes() -> None:
    """A `{...}` list splits on top-level commas only and unescapes quoted values."""
    ms = parse_matchers('{a="x,y", b=~"1|2", c!="q\\"r"}')
    expected = [("a", "=", "x,y"), ("b", "=~", "1|2"), ("c", "!=", 'q"r')]
    assert [(m.name, m.op, m.value) for m in ms] == expected


@pytest.mark.parametrize("bad", ["=x", 'a=="b"', 'a=~"("', "1a=b"])
def test_bad_matcher_is_one_line_config_error(bad: str) -> None:
    """Malformed matchers raise ConfigError with a one-line message."""
    with pytest.raises(ConfigError) as info:
        parse_matcher(bad)
    assert "\n" not in str(info.value)
