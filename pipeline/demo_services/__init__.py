"""Small instrumented services that show correct context propagation and its classic pitfalls.

checkout → payments over an RPC-like call carrying W3C headers (with retries), checkout → order
events over Kafka → a fulfillment batch worker that links to its messages, a thread-pool step in
checkout, and payments on a host whose clock runs behind. Each `Pitfalls` switch breaks one
thing the way real services break it. The demo and the tests drive them through `run_story`.
"""

from __future__ import annotations

from pipeline.demo_services.pitfalls import EXPECTED_DIAGNOSTIC, Pitfalls
from pipeline.demo_services.story import StoryResult, run_story
from pipeline.demo_services.transport import InMemoryOrderQueue, KafkaOrderTransport, OrderTransport

__all__ = [
    "EXPECTED_DIAGNOSTIC",
    "InMemoryOrderQueue",
    "KafkaOrderTransport",
    "OrderTransport",
    "Pitfalls",
    "StoryResult",
    "run_story",
]
