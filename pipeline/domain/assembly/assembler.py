"""Trace assembly: the spans of one trace -> the `assembled_trace/v1` record.

The stages run in a loop, each `stage(trace) -> trace` (STYLE.md practice 2); their order
matters: the walk (clock skew, tree order, self time) needs the parent links, and the critical
path needs adjusted times and sorted children.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pipeline.domain.assembly.critical_path import compute_critical_path
from pipeline.domain.assembly.diagnostics import diagnose_propagation
from pipeline.domain.assembly.model import AssemblyOptions, WorkingTrace
from pipeline.domain.assembly.record import REASONS, build_record
from pipeline.domain.assembly.tree import collapse_duplicates, link_parents
from pipeline.domain.assembly.walk import walk_tree
from pipeline.domain.span import Span

Stage = Callable[[WorkingTrace], WorkingTrace]

STAGES: tuple[Stage, ...] = (
    link_parents,
    walk_tree,
    compute_critical_path,
    diagnose_propagation,
)

DEFAULT_OPTIONS = AssemblyOptions()


def assemble_trace(
    trace_id: str,
    spans: Sequence[Span],
    *,
    options: AssemblyOptions = DEFAULT_OPTIONS,
    revision: int = 1,
    reason: str = "idle",
    complete: bool = True,
    linked_from: Sequence[dict[str, str]] = (),
    extra_diagnostics: Sequence[dict[str, str]] = (),
) -> dict[str, Any]:
    """Assemble the spans of one trace window.

    Args:
        trace_id: the trace's id (every span is expected to carry it).
        spans: the spans, in any order; exact re-deliveries may be included.
        options: clock-skew bound.
        revision: 1 for the first emission of a trace, +1 for each late or links update.
        reason: why the window was released (one of `REASONS`).
        complete: False when the window knows spans are missing (e.g. truncated).
        linked_from: incoming links, each `{"trace_id", "span_id", "linked_span_id"}`.
        extra_diagnostics: diagnostics decided outside one trace (TRACE_TRUNCATED, LATE_SPANS),
            each `{"code", "span_id", "message"}`; appended after the assembler's own.

    Returns:
        The `assembled_trace/v1` record (DESIGN.md §3) as a dict ready for `orjson.dumps`.

    Raises:
        ValueError: `reason` is not one of `REASONS` or `revision` is below 1.
    """
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(REASONS)}; got {reason!r}")
    if revision < 1:
        raise ValueError(f"revision must be >= 1, got {revision}")
    work = collapse_duplicates(trace_id, spans, options)
    for stage in STAGES:
        work = stage(work)
    return build_record(
        work,
        revision=revision,
        reason=reason,
        complete=complete,
        linked_from=linked_from,
        extra_diagnostics=extra_diagnostics,
    )


def group_by_trace(spans: Iterable[Span]) -> dict[str, list[Span]]:
    """Group spans by trace id, traces in first-seen order."""
    groups: dict[str, list[Span]] = {}
    for span in spans:
        group = groups.get(span.trace_id)
        if group is None:
            groups[span.trace_id] = [span]
        else:
            group.append(span)
    return groups


def assemble_all(
    spans: Iterable[Span], *, options: AssemblyOptions = DEFAULT_OPTIONS
) -> list[dict[str, Any]]:
    """Assemble every trace in `spans` as one window each (traces in first-seen order)."""
    return [assemble_trace(tid, group, options=options) for tid, group in group_by_trace(spans).items()]
