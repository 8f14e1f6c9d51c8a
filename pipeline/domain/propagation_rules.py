"""Cross-trace propagation diagnostics: LOST_CONTEXT_SUSPECTED and CONTEXT_LEAK_SUSPECTED.

The assembler sees one trace at a time; a lost or leaked context shows only when several traces
are compared. These rules take the spans of many traces (e.g. every trace released in one
window pass plus the recent caller spans) and return findings per trace, which the windowing
layer passes to `assemble_trace(..., extra_diagnostics=...)`.

LOST_CONTEXT_SUSPECTED — a trace starts where a caller's context should have continued:
  (remote) a SERVER or CONSUMER span that is the root of its trace and carries no links, while an
      *unanswered* CLIENT or PRODUCER span of another trace targets it: a CLIENT span naming the
      root's service (`peer.service`, `server.address`, `net.peer.name`, `rpc.service` against the
      root's `service.name`, `server.address`, `rpc.service`) whose interval contains the root's
      start (± tolerance), or a PRODUCER span to the root's `messaging.destination.name` that
      ended before the root started (by at most `max_queue_delay_ns`). Unanswered = no span of
      the caller's own trace is its child. Typical cause: a retry or a client that drops headers.
  (local) a root of kind INTERNAL, CLIENT or PRODUCER (not an entry point) without links, started
      inside a SERVER or CONSUMER span of another trace in the same service on the same host.
      Typical cause: work handed to a thread pool or callback without the context.
CONTEXT_LEAK_SUSPECTED — a request's work hangs under another request: a span whose
  request-scoped attribute (`enduser.id`, `session.id`, `app.request.id` by default) differs from
  the value of its nearest ancestor carrying the same key. Typical cause: a span or context kept
  in a shared variable and picked up by a concurrent request. Traces without such attributes
  cannot show a leak; the rule then stays silent rather than guess.

Findings are "suspected": evidence, not proof (a caller may target several instances).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.domain.assembly import AssemblyOptions, assemble_trace, group_by_trace
from pipeline.domain.propagation_evidence import DESTINATION, Evidence, names
from pipeline.domain.span import Span

LOST_CONTEXT_SUSPECTED = "LOST_CONTEXT_SUSPECTED"
CONTEXT_LEAK_SUSPECTED = "CONTEXT_LEAK_SUSPECTED"

_SERVER_NAME_KEYS = ("server.address", "rpc.service", "net.host.name")


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """Thresholds of the rules.

    Attributes:
        tolerance_ns: slack on time comparisons between hosts (clock skew, scheduling).
        max_queue_delay_ns: longest producer-to-consumer delay still taken as "this message".
        request_keys: span attributes that identify the request a span works for.
        local_rule: apply the in-process (thread pool) rule of LOST_CONTEXT_SUSPECTED.
    """

    tolerance_ns: int = 1_000_000_000  # 1 s: clocks of hosts on NTP agree far better
    max_queue_delay_ns: int = 60_000_000_000  # 1 min
    request_keys: tuple[str, ...] = ("enduser.id", "session.id", "app.request.id")
    local_rule: bool = True

    def __post_init__(self) -> None:
        if self.tolerance_ns < 0 or self.max_queue_delay_ns < 0:
            raise ValueError("tolerance_ns and max_queue_delay_ns must be >= 0")


@dataclass(frozen=True, slots=True)
class Finding:
    """One diagnostic about a span; `related_*` name the evidence in the other trace."""

    code: str
    trace_id: str
    span_id: str
    message: str
    related_trace_id: str | None = None
    related_span_id: str | None = None

    def as_diagnostic(self) -> dict[str, str]:
        """The `{"code", "span_id", "message"}` entry of an assembled trace's diagnostics."""
        return {"code": self.code, "span_id": self.span_id, "message": self.message}


DEFAULT_RULES = RuleOptions()


def _server_names(span: Span) -> set[str]:
    found = names(span, _SERVER_NAME_KEYS)
    if span.service_name:
        found.add(span.service_name)
    return found


def _remote_caller(root: Span, ev: Evidence, opts: RuleOptions) -> Span | None:
    tol = opts.tolerance_ns
    start = root.start_time_unix_nano
    if root.kind == "SERVER":
        for name in _server_names(root):
            for c in ev.callers(name):
                if (
                    c.trace_id != root.trace_id
                    and c.start_time_unix_nano - tol <= start <= c.end_time_unix_nano + tol
                ):
                    return c
        return None
    destination = root.attributes.get(DESTINATION)
    for c in ev.producers_to(str(destination)) if destination else ():
        if c.trace_id != root.trace_id and -tol <= start - c.end_time_unix_nano <= opts.max_queue_delay_ns:
            return c
    return None


def _local_entry(root: Span, ev: Evidence) -> Span | None:
    host = root.host
    if host is None:
        return None
    start = root.start_time_unix_nano
    for entry in ev.entries_at(root.service_name, host):
        if (
            entry.trace_id != root.trace_id
            and entry.start_time_unix_nano <= start <= entry.end_time_unix_nano
        ):
            return entry
    return None


def _lost_context(roots: Iterable[Span], ev: Evidence, options: RuleOptions) -> list[Finding]:
    findings: list[Finding] = []
    for root in roots:
        if root.parent_span_id or root.links:
            continue
        if root.kind in ("SERVER", "CONSUMER"):
            caller = _remote_caller(root, ev, options)
            if caller is not None:
                findings.append(
                    Finding(
                        LOST_CONTEXT_SUSPECTED,
                        root.trace_id,
                        root.span_id,
                        f"{root.kind} root of {root.service_name!r} while {caller.kind} span "
                        f"{caller.span_id} of trace {caller.trace_id} ({caller.service_name!r}) "
                        "called it without passing its context",
                        caller.trace_id,
                        caller.span_id,
                    )
                )
        elif options.local_rule and (entry := _local_entry(root, ev)) is not None:
            findings.append(
                Finding(
                    LOST_CONTEXT_SUSPECTED,
                    root.trace_id,
                    root.span_id,
                    f"{root.kind} root in {root.service_name!r} started inside {entry.kind} "
                    f"span {entry.span_id} of trace {entry.trace_id} on the same host: "
                    "work lost its caller's context (thread pool or callback?)",
                    entry.trace_id,
                    entry.span_id,
                )
            )
    return findings


def find_lost_context(spans: Sequence[Span], options: RuleOptions = DEFAULT_RULES) -> list[Finding]:
    """LOST_CONTEXT_SUSPECTED findings over the spans of many traces (see the module docstring)."""
    ev = Evidence()
    ev.add(spans)
    return _lost_context(spans, ev, options)


def find_context_leaks(spans: Sequence[Span], options: RuleOptions = DEFAULT_RULES) -> list[Finding]:
    """CONTEXT_LEAK_SUSPECTED findings: request attributes that disagree with an ancestor's."""
    keys = options.request_keys
    carriers = [s for s in spans if not s.attributes.keys().isdisjoint(keys)]
    if not carriers:  # the common case: nothing to compare, so no id map to build
        return []
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    findings: list[Finding] = []
    for span in carriers:
        for key in options.request_keys:
            mine = span.attributes.get(key)
            if mine is None:
                continue
            ancestor = _nearest_with(span, key, by_id)
            if ancestor is not None and ancestor.attributes[key] != mine:
                findings.append(
                    Finding(
                        CONTEXT_LEAK_SUSPECTED,
                        span.trace_id,
                        span.span_id,
                        f"{key}={mine!r} but ancestor {ancestor.span_id} has {key}="
                        f"{ancestor.attributes[key]!r}: this work belongs to another request",
                        ancestor.trace_id,
                        ancestor.span_id,
                    )
                )
                break
    return findings


def _nearest_with(span: Span, key: str, by_id: dict[tuple[str, str], Span]) -> Span | None:
    seen: set[str] = {span.span_id}
    current = span
    while current.parent_span_id and current.parent_span_id not in seen:
        parent = by_id.get((current.trace_id, current.parent_span_id))
        if parent is None:
            return None
        if key in parent.attributes:
            return parent
        seen.add(parent.span_id)
        current = parent
    return None


def propagation_findings(spans: Iterable[Span], options: RuleOptions = DEFAULT_RULES) -> list[Finding]:
    """Every cross-trace propagation finding over `spans` (lost context, then leaks)."""
    materialized = list(spans)
    return find_lost_context(materialized, options) + find_context_leaks(materialized, options)


def diagnostics_by_trace(findings: Iterable[Finding]) -> dict[str, list[dict[str, str]]]:
    """Findings grouped by trace id, as `extra_diagnostics` for `assemble_trace`."""
    out: dict[str, list[dict[str, str]]] = {}
    for f in findings:
        out.setdefault(f.trace_id, []).append(f.as_diagnostic())
    return out


def assemble_with_rules(
    spans: Iterable[Span], options: RuleOptions = DEFAULT_RULES, assembly: AssemblyOptions | None = None
) -> list[dict[str, Any]]:
    """Assembles every trace in `spans` with the cross-trace findings added to its diagnostics.

    The one-shot form (CLI, tests, demo); a streaming assembler uses `PropagationWatch`.

    Args:
        spans: the spans of any number of traces.
        options: thresholds of the propagation rules.
        assembly: the assembler's options (clock-skew bound); default its defaults.
    """
    materialized = list(spans)
    extra = diagnostics_by_trace(propagation_findings(materialized, options))
    opts = assembly or AssemblyOptions()
    return [
        assemble_trace(trace_id, group, options=opts, extra_diagnostics=extra.get(trace_id, ()))
        for trace_id, group in group_by_trace(materialized).items()
    ]


class PropagationWatch:
    """The cross-trace rules over a stream of released traces, remembering recent evidence.

    A streaming assembler releases traces a few at a time; the caller of a lost-context root may
    have been released a moment earlier. `check(spans)` files the evidence of the traces in
    `spans` and judges them against it plus that of traces checked before: up to `horizon_ns` of
    span time back and at most `max_evidence` spans, the oldest checks forgotten first (whole:
    the newest check's evidence is kept even beyond the bound).
    A caller released *after* the root it explains is not seen: that root is not flagged.
    Cost per check is linear in the spans checked: evidence is filed and forgotten a release
    at a time (`Evidence`), never rebuilt.
    """

    def __init__(
        self,
        options: RuleOptions = DEFAULT_RULES,
        horizon_ns: int = 120_000_000_000,
        max_evidence: int = 50_000,
    ) -> None:
        self.options = options
        self.horizon_ns = horizon_ns
        self.max_evidence = max_evidence
        self._index = Evidence()
        self._newest_end = 0

    @property
    def evidence(self) -> int:
        """Evidence spans remembered now."""
        return self._index.spans

    def check(self, spans: Sequence[Span]) -> dict[str, list[dict[str, str]]]:
        """Diagnostics by trace id for the traces in `spans` (complete traces, released together)."""
        index = self._index
        self._newest_end = max(self._newest_end, index.add(spans))
        findings = _lost_context(spans, index, self.options) + find_context_leaks(spans, self.options)
        index.forget(self._newest_end - self.horizon_ns, self.max_evidence)
        return diagnostics_by_trace(findings)
