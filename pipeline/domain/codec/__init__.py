"""Span codecs: obspipe span JSON, OTLP JSON and OTLP protobuf in, obspipe span JSON out.

Pure (no I/O): the stream apps, the CLI and the benchmarks decode and encode through here.
Every rejection is a `pipeline.errors.RecordError` whose message names the field and why.
"""

from __future__ import annotations

from pipeline.domain.codec.bundle import CONTENT_TYPE as BUNDLE_CONTENT_TYPE
from pipeline.domain.codec.bundle import decode_bundle, encode_bundle, encode_spans
from pipeline.domain.codec.formats import RecordResult, decode_spans, detect_format, iter_records
from pipeline.domain.codec.limits import DEFAULT_LIMITS, Limits
from pipeline.domain.codec.obspipe_json import span_from_dict, span_to_dict

__all__ = [
    "BUNDLE_CONTENT_TYPE",
    "DEFAULT_LIMITS",
    "Limits",
    "RecordResult",
    "decode_bundle",
    "decode_spans",
    "detect_format",
    "encode_bundle",
    "encode_spans",
    "iter_records",
    "span_from_dict",
    "span_to_dict",
]
