"""Actionability: is an alert a symptom users feel (may page) or a cause (becomes a ticket)?

"Alert on symptoms, not causes" (Google SRE book, ch. 6 "Monitoring Distributed Systems"; Rob
Ewaschuk, "My Philosophy on Alerting"). The first rule whose conditions all hold decides; a
label or annotation `actionable` overrides everything, then `severity` through the configured
map. An alert without a runbook annotation is flagged. The default rules ship in
`pipeline/data/alert_rules.yaml`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.domain.alerting.matchers import Matcher, all_match, parse_matchers
from pipeline.domain.alerting.model import Alert
from pipeline.errors import ConfigError

AlertClass = Literal["symptom", "cause"]
_TRUE = {"true", "yes", "1", "page"}
_FALSE = {"false", "no", "0", "ticket"}
CACHE_MAX = 100_000
_RULE_KEYS = {"name", "class", "category", "page", "matchers", "name_regex", "expr_regex"}


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict on one alert and the rule that made it."""

    cls: AlertClass
    category: str
    page: bool
    reason: str
    rule: str
    runbook_missing: bool = False

    @property
    def actionable(self) -> bool:
        """A page is actionable when it is about a symptom (a cause forced to page is not)."""
        return self.page and self.cls == "symptom"

    def to_json(self, fingerprint: str) -> dict[str, Any]:
        return {"fingerprint": fingerprint, "class": self.cls, "category": self.category,
                "page": self.page, "reason": self.reason, "rule": self.rule,
                "runbook_missing": self.runbook_missing}


@dataclass(frozen=True, slots=True)
class ClassRule:
    """A classification rule: all of its given conditions must hold."""

    name: str
    cls: AlertClass
    category: str
    page: bool
    matchers: tuple[Matcher, ...] = ()
    name_regex: re.Pattern[str] | None = None
    expr_regex: re.Pattern[str] | None = None

    def applies(self, alert: Alert) -> bool:
        if self.matchers and not all_match(self.matchers, alert.labels):
            return False
        if self.name_regex is not None and self.name_regex.fullmatch(alert.name) is None:
            return False
        return self.expr_regex is None or self.expr_regex.search(alert.expr) is not None


def _regex(node: Mapping[str, Any], key: str, where: str) -> re.Pattern[str] | None:
    if node.get(key) is None:
        return None
    try:
        return re.compile(str(node[key]))
    except re.error as exc:
        raise ConfigError(f"{where}.{key}: invalid regex: {exc}") from None


def _class_fields(node: Mapping[str, Any], where: str) -> tuple[AlertClass, str, bool]:
    cls = node.get("class")
    if cls not in ("symptom", "cause"):
        raise ConfigError(f"{where}.class: must be symptom or cause, got {cls!r}")
    page = node.get("page")
    if not isinstance(page, bool):
        raise ConfigError(f"{where}.page: must be true or false")
    return cls, str(node.get("category") or "unclassified"), page


def build_rule(node: Mapping[str, Any], where: str) -> ClassRule:
    """One rule from its config mapping.

    Raises:
        ConfigError: unknown keys, a bad class, or a rule without any condition.
    """
    unknown = set(node) - _RULE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_RULE_KEYS)}")
    cls, category, page = _class_fields(node, where)
    rule = ClassRule(
        name=str(node.get("name") or where), cls=cls, category=category, page=page,
        matchers=parse_matchers(node.get("matchers") or []),
        name_regex=_regex(node, "name_regex", where), expr_regex=_regex(node, "expr_regex", where),
    )
    if not (rule.matchers or rule.name_regex or rule.expr_regex):
        raise ConfigError(f"{where}: a rule needs matchers, name_regex or expr_regex")
    return rule


class Classifier:
    """Applies overrides, then the first matching rule, then the default."""

    def __init__(self, rules: Sequence[ClassRule], default: tuple[AlertClass, str, bool],
                 severity_overrides: Mapping[str, bool], runbook_annotations: Sequence[str]) -> None:
        self.rules = list(rules)
        self.default = default
        self.severity_overrides = dict(severity_overrides)
        self.runbook_annotations = tuple(runbook_annotations)
        self._cache: dict[tuple[str, str, str, bool], Classification] = {}

    def _base(self, alert: Alert) -> tuple[AlertClass, str, bool, str, str]:
        for rule in self.rules:
            if rule.applies(alert):
                verb = "may page" if rule.page else "becomes a ticket"
                return rule.cls, rule.category, rule.page, f"{rule.category} {rule.cls} {verb}", rule.name
        cls, category, page = self.default
        return cls, category, page, "no rule matched: default", "default"

    def classify(self, alert: Alert) -> Classification:
        """Classify one alert; the result names the rule (or override) that decided.

        Verdicts are cached per (fingerprint, expr, actionable annotation, runbook present):
        nothing else the rules read can differ between two alerts with those equal.
        """
        runbook = any(alert.annotations.get(a) for a in self.runbook_annotations)
        key = (alert.fingerprint, alert.expr, alert.annotations.get("actionable", ""), runbook)
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            cached = self._cache[key] = self._classify(alert)
        return cached

    def _classify(self, alert: Alert) -> Classification:
        cls, category, page, reason, rule = self._base(alert)
        explicit = alert.labels.get("actionable", alert.annotations.get("actionable", "")).strip().lower()
        severity = alert.labels.get("severity", "").strip().lower()
        if explicit in _TRUE or explicit in _FALSE:
            page = explicit in _TRUE
            reason, rule = f"actionable={explicit} overrides {rule}", "override:actionable"
        elif severity in self.severity_overrides and self.severity_overrides[severity] != page:
            page = self.severity_overrides[severity]
            reason, rule = f"severity={severity} overrides {rule}", "override:severity"
        missing = not any(alert.annotations.get(a) for a in self.runbook_annotations)
        if missing:
            reason += "; no runbook annotation"
        return Classification(cls, category, page, reason, rule, missing)


def build_classifier(node: Mapping[str, Any] | None, defaults: Mapping[str, Any] | None = None) -> Classifier:
    """A classifier from the `classification:` section; user rules go before the defaults.

    Args:
        node: the user's section (may be None).
        defaults: the shipped section; its rules follow the user's unless `include_defaults: false`.

    Raises:
        ConfigError: a malformed rule, naming it.
    """
    node = dict(node or {})
    base = dict(defaults or {})
    rules: list[ClassRule] = [build_rule(r, f"classification.rules[{i}]")
                              for i, r in enumerate(node.get("rules") or [])]
    if node.get("include_defaults", True):
        rules += [build_rule(r, f"default classification.rules[{i}]")
                  for i, r in enumerate(base.get("rules") or [])]
    default = _class_fields(node.get("default") or base.get("default")
                            or {"class": "cause", "page": False}, "classification.default")
    sev_raw = node.get("severity_overrides", base.get("severity_overrides")) or {}
    severity: dict[str, bool] = {}
    for k, v in sev_raw.items():
        if v not in ("page", "ticket"):
            raise ConfigError(f"classification.severity_overrides.{k}: must be page or ticket")
        severity[str(k).lower()] = v == "page"
    runbooks = node.get("runbook_annotations", base.get("runbook_annotations")) or ["runbook_url"]
    return Classifier(rules, default, severity, [str(r) for r in runbooks])
