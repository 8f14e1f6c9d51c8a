"""The baseline: a plain confluent-kafka loop doing what the pipeline does, minus faust, windows,
repartitioning and acks, in one process."""

from __future__ import annotations

import orjson
from confluent_kafka import Producer

from pipeline.adapters.kafka.config import producer_config
from pipeline.domain.assembly import assemble_trace, group_by_trace
from pipeline.domain.codec import decode_spans
from pipeline.settings import Settings
from pipeline.testing.bench import Elapsed, measured
from stream_apps.common import GC_THRESHOLDS

from .inputs import PROTO, reader


def plain_loop(
    bootstrap: str, settings: Settings, topic_in: str, topic_out: str, total_spans: int
) -> Elapsed:
    """consume -> decode -> group by trace -> assemble -> produce, one process; its CPU and wall time.

    GC is tuned as in the workers (`stream_apps.common.GC_THRESHOLDS`), so both sides run alike.
    """
    consumer = reader(bootstrap, settings, topic_in)
    producer = Producer(producer_config(settings, bootstrap))
    seen = 0
    with measured(gc_thresholds=GC_THRESHOLDS) as elapsed:
        while seen < total_spans:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                if msg.error() is not None:
                    continue
                spans = decode_spans(msg.value(), content_type=PROTO)
                for trace_id, group in group_by_trace(spans).items():
                    producer.produce(
                        topic_out, orjson.dumps(assemble_trace(trace_id, group)), trace_id.encode()
                    )
                producer.poll(0)
                seen += len(spans)
        producer.flush(60)
    consumer.close()
    return elapsed
