"""Alertmanager label matchers: `name="value"`, `!=`, `=~`, `!~`.

Semantics as in Alertmanager's `pkg/labels`: a missing label has the empty value, and regular
expressions are fully anchored (`^(?:re)$`), so `env=~"prod"` does not match `production`.
The textual syntax accepts quoted or bare values and a `{a="b", c=~"d"}` list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline.errors import ConfigError

Op = Literal["=", "!=", "=~", "!~"]
_MATCHER = re.compile(
    r"""^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|[^,{}"]*?)\s*$"""
)
_ESCAPES = {"n": "\n", "\\": "\\", '"': '"'}


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher; `regex` is compiled once when the matcher is built."""

    name: str
    op: Op
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @staticmethod
    def build(name: str, op: Op, value: str) -> Matcher:
        """Build a matcher, compiling anchored regexes.

        Raises:
            ConfigError: the regex does not compile.
        """
        regex = None
        if op in ("=~", "!~"):
            try:
                # Compiled as written and applied with fullmatch: anchored at both ends like
                # Alertmanager's `^(?:re)$`, while a leading `(?i)` stays valid in Python.
                regex = re.compile(value)
            except re.error as exc:
                raise ConfigError(f"matcher {name}{op}{value!r}: invalid regex: {exc}") from None
        return Matcher(name, op, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when the label (missing = "") satisfies the matcher."""
        v = labels.get(self.name, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        assert self.regex is not None
        hit = self.regex.fullmatch(v) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'

    def to_json(self) -> dict[str, Any]:
        """Alertmanager API v2 matcher shape."""
        return {"name": self.name, "value": self.value, "isRegex": self.op in ("=~", "!~"),
                "isEqual": self.op in ("=", "=~")}


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), raw[1:-1])
    return raw


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as `severity=~"critical|page"`.

    Raises:
        ConfigError: one line naming the bad matcher.
    """
    m = _MATCHER.match(text)
    if m is None:
        raise ConfigError(f"invalid matcher {text!r}: expected name=value, name!=value, name=~re or name!~re")
    op: Op = m.group(2)  # type: ignore[assignment]
    return Matcher.build(m.group(1), op, _unquote(m.group(3)))


def _split_top_level(text: str) -> list[str]:
    parts, buf, quoted, escaped = [], [], False, False
    for ch in text:
        if escaped:
            buf.append(ch)
            escaped = False
            continue
        if ch == "\\" and quoted:
            buf.append(ch)
            escaped = True
            continue
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    return [p for p in parts if p.strip()]


def parse_matchers(spec: str | Iterable[str]) -> tuple[Matcher, ...]:
    """Parse `{a="b", c=~"d"}`, `a="b",c=~"d"` or a list of single matcher strings.

    Raises:
        ConfigError: a matcher is malformed.
    """
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        return tuple(parse_matcher(p) for p in _split_top_level(text))
    out: list[Matcher] = []
    for item in spec:
        out.extend(parse_matchers(str(item)))
    return tuple(out)


def matchers_from_config(node: Mapping[str, Any], prefix: str = "") -> tuple[Matcher, ...]:
    """Matchers from a config node: `matchers` (strings) plus legacy `match`/`match_re` maps.

    `prefix` selects e.g. `source_` or `target_` keys of an inhibition rule.
    """
    out: list[Matcher] = list(parse_matchers(node.get(f"{prefix}matchers") or []))
    for name, value in (node.get(f"{prefix}match") or {}).items():
        out.append(Matcher.build(str(name), "=", str(value)))
    for name, value in (node.get(f"{prefix}match_re") or {}).items():
        out.append(Matcher.build(str(name), "=~", str(value)))
    return tuple(out)


def all_match(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """`{a="b", c=~"d"}` as Alertmanager prints matcher lists."""
    return "{" + ", ".join(str(m) for m in matchers) + "}"
