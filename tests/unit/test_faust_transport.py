"""The stream apps' faust consumers use the Kafka default fetch wait, not faust's hard-coded 1.5 s."""

from __future__ import annotations

import asyncio

from pipeline.adapters.kafka.config import FETCH_WAIT_MAX_MS
from pipeline.adapters.kafka.faust_transport import Transport
from pipeline.settings import load_settings
from stream_apps.common import build_app


def test_worker_consumer_waits_the_kafka_default_not_faust_1500_ms() -> None:
    async def created_consumer_wait() -> int:
        # Built, never started: no broker is contacted.
        app = build_app("fetch-wait-probe", load_settings(kafka_bootstrap="127.0.0.1:9"))
        assert isinstance(app.transport, Transport)
        consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
        return int(consumer._fetch_max_wait_ms)

    assert asyncio.run(created_consumer_wait()) == FETCH_WAIT_MAX_MS == 500
