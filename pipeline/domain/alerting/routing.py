"""Alertmanager's routing tree: which route(s) an alert takes and which group it joins.

Follows Alertmanager's `dispatch/route.go`: the root route matches every alert; children are
tried in order, the first match wins unless it sets `continue: true`; a node none of whose
children match handles the alert itself. Children inherit `receiver`, `group_by`, `group_wait`,
`group_interval`, `repeat_interval` and `send_resolved` from their parent. `group_by: ['...']`
groups by every label; an empty `group_by` puts all alerts of the route into one group.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.domain.alerting.matchers import Matcher, all_match, format_matchers, matchers_from_config
from pipeline.errors import ConfigError

# Prometheus duration syntax (`1h30m`, `90s`, `2d`); units and their seconds.
_DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")
_UNIT_S = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_OPTION_KEYS = ("receiver", "group_by", "group_wait", "group_interval", "repeat_interval", "send_resolved")
_ROUTE_KEYS = {*_OPTION_KEYS, "matchers", "match", "match_re", "continue", "routes"}


def parse_duration(value: object, field_name: str) -> float:
    """Seconds from a Prometheus duration string (`30s`, `5m`, `1h30m`) or a number of seconds.

    Raises:
        ConfigError: one line naming the field.
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str) and value and value != "0":
        m = _DURATION.match(value.strip())
        if m is not None and any(m.groups()):
            return float(sum(int(m.group(2 * i + 2)) * unit for i, unit in enumerate(_UNIT_S)
                             if m.group(2 * i + 2)))
    if value in ("0", "0s"):
        return 0.0
    raise ConfigError(f"{field_name}: not a duration (e.g. 30s, 5m, 4h): {value!r}")


@dataclass(frozen=True, slots=True)
class RouteOptions:
    """Options a route inherits from its parent unless it sets them; defaults are Alertmanager's."""

    receiver: str = "default"
    group_by: tuple[str, ...] = ("alertname", "service")
    group_by_all: bool = False
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    send_resolved: bool = True


@dataclass(slots=True)
class Route:
    """One node of the routing tree; `key` identifies it like Alertmanager's `Route.Key()`."""

    matchers: tuple[Matcher, ...]
    options: RouteOptions
    continue_matching: bool = False
    routes: list[Route] = field(default_factory=list)
    key: str = "{}"

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes that handle an alert with these labels (empty if this node does not match)."""
        if not all_match(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            hits = child.match(labels)
            found.extend(hits)
            if hits and not child.continue_matching:
                break
        return found or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that identify the alert's group on this route."""
        if self.options.group_by_all:
            return dict(labels)
        return {n: labels[n] for n in self.options.group_by if n in labels}

    def group_key(self, labels: Mapping[str, str]) -> str:
        """`<route key>:{<group labels>}` as Alertmanager builds aggregation group keys."""
        group = self.group_labels(labels)
        inner = ", ".join(f'{k}="{group[k]}"' for k in sorted(group))
        return f"{self.key}:{{{inner}}}"


def _options(node: Mapping[str, Any], parent: RouteOptions, where: str) -> RouteOptions:
    opts = parent
    if "receiver" in node:
        opts = replace(opts, receiver=str(node["receiver"]))
    if "group_by" in node:
        group_by = node["group_by"] or []
        if not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by):
            raise ConfigError(f"{where}.group_by: expected a list of label names")
        if "..." in group_by and len(group_by) > 1:
            raise ConfigError(f"{where}.group_by: '...' must be the only entry")
        opts = replace(opts, group_by=tuple(g for g in group_by if g != "..."),
                       group_by_all="..." in group_by)
    if "group_wait" in node:
        opts = replace(opts, group_wait=parse_duration(node["group_wait"], f"{where}.group_wait"))
    if "group_interval" in node:
        opts = replace(opts, group_interval=parse_duration(node["group_interval"], f"{where}.group_interval"))
    if "repeat_interval" in node:
        repeat = parse_duration(node["repeat_interval"], f"{where}.repeat_interval")
        opts = replace(opts, repeat_interval=repeat)
    if "send_resolved" in node:
        opts = replace(opts, send_resolved=bool(node["send_resolved"]))
    if opts.group_interval <= 0 or opts.repeat_interval <= 0:
        raise ConfigError(f"{where}: group_interval and repeat_interval must be > 0")
    return opts


def build_route(node: Mapping[str, Any] | None, parent: RouteOptions | None = None,
                parent_key: str | None = None, where: str = "route") -> Route:
    """Build a routing tree from its config mapping (Alertmanager's `route:` block).

    Raises:
        ConfigError: an unknown key or a bad value, naming its path (e.g. `route.routes[1].group_wait`).
    """
    node = node or {}
    if not isinstance(node, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = set(node) - _ROUTE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_ROUTE_KEYS)}")
    matchers = matchers_from_config(node)
    if parent is None and matchers:
        raise ConfigError(f"{where}: the root route must not have matchers (it matches every alert)")
    opts = _options(node, parent or RouteOptions(), where)
    own = format_matchers(matchers)
    key = own if parent_key is None else f"{parent_key}/{own}"
    route = Route(matchers=matchers, options=opts, key=key,
                  continue_matching=bool(node.get("continue", False)))
    children = node.get("routes") or []
    if not isinstance(children, list):
        raise ConfigError(f"{where}.routes: expected a list")
    seen: dict[str, int] = {}
    for i, child in enumerate(children):
        built = build_route(child, opts, key, f"{where}.routes[{i}]")
        # Siblings with identical matchers would share a key; number repeats to keep groups apart.
        n = seen.get(built.key, 0)
        seen[built.key] = n + 1
        if n:
            _rekey(built, built.key, f"{built.key}#{n}")
        route.routes.append(built)
    return route


def _rekey(route: Route, old_prefix: str, new_prefix: str) -> None:
    route.key = new_prefix + route.key[len(old_prefix):]
    for child in route.routes:
        _rekey(child, old_prefix, new_prefix)
