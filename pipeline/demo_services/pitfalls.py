"""The propagation pitfalls the demo services can reproduce, one switch each."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Pitfalls:
    """Which mistakes the services make; all False = the correct patterns.

    Attributes:
        thread_pool_loses_context: checkout reserves stock in a plain ThreadPoolExecutor, so
            the reservation spans start new traces.
        shared_request_variable: checkout keeps "the current request span" in an attribute
            shared by concurrent requests; one request's work lands under the other's span.
        retry_drops_headers: checkout's retries rebuild the payment request without headers.
        queue_parent_child: fulfillment parents each message's span to the producer context
            instead of linking to it.
        inconsistent_sampling: checkout decides not to sample (but still exports what it
            records) while payments ignores the caller's decision and samples everything.
    """

    thread_pool_loses_context: bool = False
    shared_request_variable: bool = False
    retry_drops_headers: bool = False
    queue_parent_child: bool = False
    inconsistent_sampling: bool = False

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def only(cls, name: str) -> Pitfalls:
        """The pitfalls with just `name` switched on.

        Raises:
            ValueError: `name` is not a pitfall.
        """
        if name not in cls.names():
            raise ValueError(f"unknown pitfall {name!r}: expected one of {', '.join(cls.names())}")
        return cls(**{name: True})


# The diagnostic each pitfall must produce in the assembled traces.
EXPECTED_DIAGNOSTIC: dict[str, str] = {
    "thread_pool_loses_context": "LOST_CONTEXT_SUSPECTED",
    "shared_request_variable": "CONTEXT_LEAK_SUSPECTED",
    "retry_drops_headers": "LOST_CONTEXT_SUSPECTED",
    "queue_parent_child": "QUEUE_PARENT_CHILD",
    "inconsistent_sampling": "SAMPLING_INCONSISTENT",
}
