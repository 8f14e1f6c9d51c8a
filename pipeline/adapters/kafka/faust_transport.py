"""faust's aiokafka transport with the Kafka clients' default fetch wait (500 ms) instead of 1.5 s.

faust hard-codes `fetch_max_wait_ms=1500` for its consumers. A broker that holds an empty fetch
for the whole wait, as the embedded one does (DESIGN.md §6), then hands a worker 1.5 s of input
at once: at a steady half load the trace-assembler released ~1,000 traces in one tick every
~1.5 s and the last of them waited 150 ms behind the others (p99 release -> output 256 ms).
With 500 ms, the Kafka and librdkafka default and the floor DESIGN.md §6 sets (below it
fetches come back empty), input arrives in smaller steps (p99 162 ms, same load). Real Kafka
answers a fetch as soon as data is there; there the wait only bounds idle fetches.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from pipeline.adapters.kafka.config import FETCH_WAIT_MAX_MS


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when the consumer starts (faust passes no way to set it).
        consumer._fetch_max_wait_ms = FETCH_WAIT_MAX_MS
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport whose consumers use `FETCH_WAIT_MAX_MS`."""

    Consumer = _Consumer


class App(faust.App):
    """A faust App on `Transport` (everything else is faust's)."""

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)
