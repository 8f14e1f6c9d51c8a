"""Sampling decisions that travel across Kafka.

Over RPC the SDK's `ParentBased` sampler already follows the caller: the decision rides in the
`traceparent` flags (bit 0) and `tracestate` is carried along by the W3C propagator. Across Kafka
obspipe's consumers *link* to the producer instead of parenting to it, so `ParentBased` sees no
parent and would decide afresh. `parent_or_link_based(root)` closes that gap: a span with a
parent follows the parent (exactly `ParentBased`); a root span with links follows its links
(sampled if any linked context was sampled, dropped if all were not); anything else asks `root`.
This mirrors the OpenTelemetry specification's note that samplers may use links for their
decision (trace SDK, "Sampler.ShouldSample" receives the links).
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes


class LinkBasedSampler(Sampler):
    """For root spans: follow the sampled flags of the span's links, else ask `fallback`."""

    def __init__(self, fallback: Sampler) -> None:
        self._fallback = fallback

    def should_sample(  # noqa: PLR0917 (the SDK's Sampler signature)
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        valid = [lk for lk in links or () if lk.context.is_valid]
        if not valid:
            return self._fallback.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        sampled = [lk for lk in valid if lk.context.trace_flags.sampled]
        decision = Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP
        state = get_current_span(parent_context).get_span_context().trace_state
        return SamplingResult(decision, attributes, state)

    def get_description(self) -> str:
        return f"LinkBased{{{self._fallback.get_description()}}}"


def parent_or_link_based(root: Sampler) -> Sampler:
    """`ParentBased` whose root decision follows the span's links first (see the module docstring)."""
    return ParentBased(root=LinkBasedSampler(root))
