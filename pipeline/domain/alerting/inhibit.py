"""Inhibition: a firing source alert mutes target alerts that agree on the `equal` labels.

Follows Alertmanager's `inhibit/inhibit.go` and configuration docs: a target alert is muted
when it matches `target_matchers` and some *firing* alert matches `source_matchers` with the
same value for every label in `equal` (a missing label counts as the empty value). To keep an
alert from inhibiting itself, an alert that matches both sides of a rule cannot be inhibited by
an alert that also matches both sides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.domain.alerting.matchers import Matcher, all_match, matchers_from_config
from pipeline.domain.alerting.model import Alert
from pipeline.errors import ConfigError

_RULE_KEYS = {"name", "source_matchers", "source_match", "source_match_re",
              "target_matchers", "target_match", "target_match_re", "equal"}


@dataclass(slots=True)
class InhibitRule:
    """One rule with a cache of the firing source alerts, indexed by their `equal` values."""

    name: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]
    sources: dict[tuple[str, ...], dict[str, Alert]] = field(default_factory=dict)

    def _equal_values(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(n, "") for n in self.equal)

    def observe(self, alert: Alert, now: float) -> None:
        """Add a firing source alert to the cache, or drop it once resolved."""
        if not all_match(self.source, alert.labels):
            return
        bucket_key = self._equal_values(alert.labels)
        if alert.resolved_at(now):
            bucket = self.sources.get(bucket_key)
            if bucket is not None:
                bucket.pop(alert.fingerprint, None)
                if not bucket:
                    del self.sources[bucket_key]
        else:
            self.sources.setdefault(bucket_key, {})[alert.fingerprint] = alert

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        """True when a firing source alert inhibits a target with these labels at `now`."""
        if not all_match(self.target, labels):
            return False
        bucket = self.sources.get(self._equal_values(labels))
        if not bucket:
            return False
        two_sided = all_match(self.source, labels)
        for src in bucket.values():
            if src.resolved_at(now):
                continue
            if two_sided and all_match(self.target, src.labels):
                continue
            return True
        return False


def build_inhibit_rules(items: Sequence[Mapping[str, Any]] | None) -> list[InhibitRule]:
    """Rules from the `inhibit_rules:` config list.

    Raises:
        ConfigError: an unknown key or malformed matcher, naming `inhibit_rules[i]`.
    """
    rules: list[InhibitRule] = []
    for i, node in enumerate(items or []):
        where = f"inhibit_rules[{i}]"
        if not isinstance(node, Mapping):
            raise ConfigError(f"{where}: expected a mapping")
        unknown = set(node) - _RULE_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
        equal = node.get("equal") or []
        if not isinstance(equal, list):
            raise ConfigError(f"{where}.equal: expected a list of label names")
        rules.append(InhibitRule(
            name=str(node.get("name") or where),
            source=matchers_from_config(node, "source_"),
            target=matchers_from_config(node, "target_"),
            equal=tuple(str(e) for e in equal),
        ))
    return rules


class Inhibitor:
    """All inhibition rules; `observe` every alert, ask `muted_by` at notification time."""

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        self.rules = list(rules)

    def observe(self, alert: Alert, now: float) -> None:
        for rule in self.rules:
            rule.observe(alert, now)

    def forget_resolved(self, now: float) -> None:
        """Drop source alerts that ended by timing out (no resolved record ever came)."""
        for rule in self.rules:
            for bucket_key in list(rule.sources):
                bucket = rule.sources[bucket_key]
                for fp in [fp for fp, a in bucket.items() if a.resolved_at(now)]:
                    del bucket[fp]
                if not bucket:
                    del rule.sources[bucket_key]

    def muted_by(self, labels: Mapping[str, str], now: float) -> str | None:
        """The name of the first rule that inhibits these labels, or None."""
        for rule in self.rules:
            if rule.mutes(labels, now):
                return rule.name
        return None
