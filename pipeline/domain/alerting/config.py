"""Alert-routing configuration: the shipped defaults (`pipeline/data/alert_rules.yaml`) plus an
optional user file whose top-level sections replace the defaults' (classification rules are
tried before the default rules unless the user's section sets `include_defaults: false`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from pipeline.domain.alerting.classify import Classifier, build_classifier
from pipeline.domain.alerting.inhibit import Inhibitor, InhibitRule, build_inhibit_rules
from pipeline.domain.alerting.router import AlertRouter, Suppression
from pipeline.domain.alerting.routing import Route, build_route, parse_duration
from pipeline.domain.alerting.schedule import Schedule
from pipeline.domain.alerting.silences import SilenceSet
from pipeline.errors import ConfigError

SECTIONS = {"route", "inhibit_rules", "classification", "suppression", "receivers"}


def load_yaml_text(text: str, source: str) -> dict[str, Any]:
    """Parse a YAML mapping.

    Raises:
        ConfigError: not YAML, or not a mapping; names the source.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}:{where} invalid YAML") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    return doc


def default_config_text() -> str:
    """The shipped default configuration (package data)."""
    return resources.files("pipeline").joinpath("data/alert_rules.yaml").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Everything the router needs except silences and the schedule."""

    route: Route
    inhibit_rules: tuple[InhibitRule, ...]
    classifier: Classifier
    suppression: Suppression

    def build_router(self, silences: SilenceSet | None = None,
                     schedule: Schedule | None = None) -> AlertRouter:
        """A fresh router (each router owns its inhibition cache, so rules are copied)."""
        rules = [InhibitRule(r.name, r.source, r.target, r.equal) for r in self.inhibit_rules]
        return AlertRouter(self.route, self.classifier, Inhibitor(rules), silences=silences or SilenceSet(),
                           suppression=self.suppression, schedule=schedule)


def _suppression(node: Mapping[str, Any], transient_window_s: float) -> Suppression:
    threshold = node.get("flap_threshold", 3)
    if not isinstance(threshold, int) or threshold < 2:
        raise ConfigError("suppression.flap_threshold: must be an integer >= 2")
    window = parse_duration(node.get("flap_window", "1h"), "suppression.flap_window")
    return Suppression(transient_window=transient_window_s, flap_window=window, flap_threshold=threshold)


def build_alert_config(user: Mapping[str, Any] | None = None, *, transient_window_s: float = 120.0,
                       defaults: Mapping[str, Any] | None = None) -> AlertConfig:
    """Merge the user's document over the defaults and build every part.

    Raises:
        ConfigError: one line naming the section and entry that is wrong.
    """
    if defaults is None:
        defaults = load_yaml_text(default_config_text(), "alert_rules.yaml")
    base = dict(defaults)
    user = dict(user or {})
    unknown = set(user) - SECTIONS
    if unknown:
        raise ConfigError(f"alert config: unknown section(s) {sorted(unknown)}; allowed: {sorted(SECTIONS)}")
    merged = {**base, **{k: v for k, v in user.items() if k != "classification"}}
    return AlertConfig(
        route=build_route(merged.get("route")),
        inhibit_rules=tuple(build_inhibit_rules(merged.get("inhibit_rules"))),
        classifier=build_classifier(user.get("classification"), base.get("classification")),
        suppression=_suppression(merged.get("suppression") or {}, transient_window_s),
    )
