"""Trace assembly, pure: the spans of one trace -> the `assembled_trace/v1` record (DESIGN.md §3-4)."""

from __future__ import annotations

from pipeline.domain.assembly.assembler import assemble_all, assemble_trace, group_by_trace
from pipeline.domain.assembly.model import (
    CLOCK_SKEW_ADJUSTED,
    CLOCK_SKEW_EXCEEDED,
    DUPLICATE_SPAN_ID,
    MULTIPLE_ROOTS,
    ORPHAN_SPAN,
    PARENT_CYCLE,
    QUEUE_PARENT_CHILD,
    SAMPLING_INCONSISTENT,
    AssemblyOptions,
)
from pipeline.domain.assembly.record import REASONS, SCHEMA

__all__ = [
    "CLOCK_SKEW_ADJUSTED",
    "CLOCK_SKEW_EXCEEDED",
    "DUPLICATE_SPAN_ID",
    "MULTIPLE_ROOTS",
    "ORPHAN_SPAN",
    "PARENT_CYCLE",
    "QUEUE_PARENT_CHILD",
    "REASONS",
    "SAMPLING_INCONSISTENT",
    "SCHEMA",
    "AssemblyOptions",
    "assemble_all",
    "assemble_trace",
    "group_by_trace",
]
