"""Input limits applied while decoding spans; a record over a limit is rejected as a whole."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one input record. The defaults equal those of `pipeline.settings.Settings`."""

    max_attributes_per_span: int = 256  # attributes + resource attributes of one span
    max_attribute_value_bytes: int = 16_384  # UTF-8 bytes of one value (containers: their JSON size)
    max_spans_per_record: int = 100_000
    max_links_per_span: int = 1_000
    max_name_bytes: int = 1_024

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """Build the limits from any object carrying the same-named attributes (e.g. `Settings`)."""
        return cls(**{f.name: int(getattr(settings, f.name)) for f in fields(cls)})


DEFAULT_LIMITS = Limits()
