"""Every decoder gives a span without links the shared `NO_LINKS` (the window store relies on it:
a list per held span would be one more object for the garbage collector), and a span with
links a list of its own."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from codec_samples import minimal_span_dict, otlp_json_request, otlp_proto_request, span_dict

from pipeline.domain.codec import decode_bundle, decode_spans, encode_bundle, encode_spans, span_from_dict
from pipeline.domain.span import NO_LINKS, Span
from pipeline.domain.synthetic import SyntheticTraces

PROTO = "application/x-protobuf"
SPANS = [span for _ in range(5) for span in SyntheticTraces(seed=3, link_ratio=0.0).trace(4)]

DECODERS: dict[str, Callable[[], list[Span]]] = {
    "obspipe JSON (typed fast path)": lambda: decode_spans(encode_spans(SPANS)),
    "obspipe JSON object": lambda: [span_from_dict({**span_dict(), "links": []})],
    "obspipe JSON, minimal": lambda: decode_spans(orjson.dumps(minimal_span_dict())),
    "OTLP JSON": lambda: decode_spans(orjson.dumps(otlp_json_request())),
    "OTLP protobuf": lambda: decode_spans(otlp_proto_request().SerializeToString(), content_type=PROTO),
    "bundle v2": lambda: decode_bundle(encode_bundle(SPANS)),
    "bundle v1 (JSON)": lambda: decode_bundle(encode_spans(SPANS)),
}


@pytest.mark.parametrize("name", list(DECODERS))
def test_spans_without_links_share_no_links(name: str) -> None:
    decoded = [span for span in DECODERS[name]() if not span.links]
    assert decoded, "the sample has spans without links"
    assert all(span.links is NO_LINKS for span in decoded)
    assert NO_LINKS == []


def test_a_span_with_links_has_its_own_list() -> None:
    linked = SyntheticTraces(seed=3, link_ratio=1.0)
    spans = [span for _ in range(10) for span in linked.trace(4)]
    with_links = [span for span in decode_bundle(encode_bundle(spans)) if span.links]
    assert with_links and all(span.links is not NO_LINKS for span in with_links)
