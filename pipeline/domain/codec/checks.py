"""Field checks shared by the span codecs: ids, times, kinds, status codes and attribute bounds.

The decoders test the common, valid case inline (a class check, a precompiled regex, a dict
lookup) and call the functions here only when that test fails: they either normalise the value
(upper-case hex ids, `SPAN_KIND_*` names, decimal-string times) or raise a `RecordError` whose
message is "<field>: <why>". Callers that know where the span sits re-raise with `relocate`.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from pipeline.domain.span import STATUS_CODES, SpanKind, StatusCode
from pipeline.errors import LimitExceededError, RecordError, ValidationError

HEX32: Final = re.compile(r"[0-9a-f]{32}").fullmatch
HEX16: Final = re.compile(r"[0-9a-f]{16}").fullmatch
ZERO_TRACE_ID: Final = "0" * 32
ZERO_SPAN_ID: Final = "0" * 16
U64: Final = 1 << 64  # OTLP times are fixed64 nanoseconds
U32: Final = 1 << 32  # OTLP span flags are fixed32
I64_MIN: Final = -(1 << 63)
I64_MAX: Final = (1 << 63) - 1
_DECIMAL: Final = re.compile(r"[0-9]{1,20}").fullmatch
_SIGNED_DECIMAL: Final = re.compile(r"-?[0-9]{1,19}").fullmatch

# Names and OTLP enum numbers (opentelemetry/proto/trace/v1/trace.proto, Span.SpanKind); the
# OTLP value 0, SPAN_KIND_UNSPECIFIED, is read as INTERNAL, as the OTLP spec says to.
KINDS: Final[dict[str, SpanKind]] = {
    "INTERNAL": "INTERNAL",
    "SERVER": "SERVER",
    "CLIENT": "CLIENT",
    "PRODUCER": "PRODUCER",
    "CONSUMER": "CONSUMER",
}
KIND_BY_NUMBER: Final[dict[int, SpanKind]] = {
    0: "INTERNAL",
    1: "INTERNAL",
    2: "SERVER",
    3: "CLIENT",
    4: "PRODUCER",
    5: "CONSUMER",
}
_KIND_NAMES: Final[dict[str, SpanKind]] = {
    **KINDS,
    "UNSPECIFIED": "INTERNAL",
    **{f"SPAN_KIND_{name}": kind for name, kind in KINDS.items()},
    "SPAN_KIND_UNSPECIFIED": "INTERNAL",
}
# Status.StatusCode of trace.proto: 0 UNSET, 1 OK, 2 ERROR.
STATUSES: Final[dict[str, StatusCode]] = {code: code for code in STATUS_CODES}
STATUS_BY_NUMBER: Final[dict[int, StatusCode]] = dict(enumerate(STATUS_CODES))
_STATUS_NAMES: Final[dict[str, StatusCode]] = {
    **STATUSES,
    **{f"STATUS_CODE_{code}": code for code in STATUS_CODES},
}
_SCALARS: Final = (int, float, bool, type(None))


def shown(value: Any) -> str:
    """A short repr of a bad value for an error message (long values are cut at 60 characters)."""
    text: str = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_JSON_TYPES: Final[dict[type, str]] = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
}


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages such as "must be an object, got array"."""
    if value is None:
        return "null"
    return _JSON_TYPES.get(value.__class__) or value.__class__.__name__


def fail(cls: type[RecordError], field: str, why: str) -> RecordError:
    """A `cls` error for `field` ("" = the record itself) with the message "<field>: <why>"."""
    return cls(f"{field}: {why}" if field else why, field=field or None)


def relocate(exc: RecordError, where: str) -> RecordError:
    """The same error with its field prefixed by the place of the item in the record."""
    field = exc.field or ""
    message = str(exc)
    why = message[len(field) + 2 :] if field and message.startswith(field + ": ") else message
    return fail(type(exc), f"{where}.{field}" if field else where, why)


def check_id(value: Any, n_hex: int, field: str) -> str:
    """A trace id (32 hex) or span id (16 hex) in lower case; upper-case input is accepted."""
    if value is None:
        raise fail(ValidationError, field, "required")
    if value.__class__ is not str:
        raise fail(
            ValidationError, field, f"must be a string of {n_hex} hex characters, got {json_type(value)}"
        )
    low = value.lower()
    if not (HEX32 if n_hex == 32 else HEX16)(low):
        raise fail(ValidationError, field, f"must be {n_hex} hex characters, got {shown(value)}")
    if low == "0" * n_hex:
        raise fail(ValidationError, field, "must not be all zeros")
    return low


def check_parent_id(value: Any, field: str) -> str | None:
    """A parent span id in lower case, or None for a root ("" and all zeros also mean no parent)."""
    if value is None or value == "":
        return None
    if value.__class__ is str:
        low = value.lower()
        if HEX16(low):
            return None if low == ZERO_SPAN_ID else low
    raise fail(ValidationError, field, f'must be 16 hex characters, "" or null, got {shown(value)}')


def check_time(value: Any, field: str) -> int:
    """Nanoseconds since the epoch from an integer or a decimal string (OTLP JSON writes strings)."""
    if value is None:
        raise fail(ValidationError, field, "required")
    if value.__class__ is str and _DECIMAL(value):
        number = int(value)
        if number < U64:
            return number
    elif value.__class__ is int and 0 <= value < U64:
        return value
    raise fail(
        ValidationError,
        field,
        f"must be a non-negative integer of nanoseconds (< 2**64) or its decimal string, got {shown(value)}",
    )


def check_int64(value: Any, field: str) -> int:
    """A signed 64-bit integer from a number or a decimal string (OTLP JSON `intValue`)."""
    if value.__class__ is int and I64_MIN <= value <= I64_MAX:
        return value
    if value.__class__ is str and _SIGNED_DECIMAL(value):
        number = int(value)
        if I64_MIN <= number <= I64_MAX:
            return number
    raise fail(ValidationError, field, f"must be a 64-bit integer or its decimal string, got {shown(value)}")


def check_flags(value: Any, field: str) -> int:
    """Span flags: an unsigned 32-bit integer (the low 8 bits are the W3C trace flags)."""
    if value.__class__ is int and 0 <= value < U32:
        return value
    raise fail(ValidationError, field, f"must be an integer from 0 to 2**32-1, got {shown(value)}")


def _enum(value: Any, names: dict[str, Any], numbers: dict[int, Any], field: str, allowed: str) -> Any:
    if value.__class__ is str:
        found = names.get(value.upper())
        if found is not None:
            return found
    elif value.__class__ is int and value in numbers:
        return numbers[value]
    raise fail(ValidationError, field, f"must be one of {allowed}, got {shown(value)}")


def check_kind(value: Any, field: str) -> SpanKind:
    """A span kind from a name (any case, with or without `SPAN_KIND_`) or an OTLP number 0-5."""
    if value is None:
        return "INTERNAL"
    allowed = "INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER (or SPAN_KIND_*, or 0-5)"
    kind: SpanKind = _enum(value, _KIND_NAMES, KIND_BY_NUMBER, field, allowed)
    return kind


def check_status(value: Any, field: str) -> StatusCode:
    """A status code from a name (any case, with or without `STATUS_CODE_`) or an OTLP number 0-2."""
    if value is None:
        return "UNSET"
    code: StatusCode = _enum(
        value, _STATUS_NAMES, STATUS_BY_NUMBER, field, "UNSET, OK, ERROR (or STATUS_CODE_*, or 0-2)"
    )
    return code


def over_limit(field: str, count: int, what: str, limit: int, setting: str) -> RecordError:
    """The error for `count` items of `what` where at most `limit` are allowed by `setting`."""
    return fail(LimitExceededError, field, f"{count} {what} is more than the limit of {limit} ({setting})")


def check_text(value: Any, field: str, max_bytes: int) -> str:
    """A string of at most `max_bytes` UTF-8 bytes (span names, trace states, status messages)."""
    if value.__class__ is not str:
        raise fail(ValidationError, field, f"must be a string, got {json_type(value)}")
    if len(value) > max_bytes >> 2:  # a character is at most 4 UTF-8 bytes: encode only when it may matter
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise fail(LimitExceededError, field, f"is {size} bytes, more than the limit of {max_bytes}")
    return value


def check_values(attributes: dict[str, Any], max_bytes: int, field: str) -> None:
    """Every value is JSON-encodable and at most `max_bytes` (strings: UTF-8; containers: as JSON)."""
    quarter = max_bytes >> 2
    for key, value in attributes.items():
        cls = value.__class__
        if cls is str:
            if len(value) > quarter:
                size = len(value.encode("utf-8", "surrogatepass"))
                if size > max_bytes:
                    raise fail(
                        LimitExceededError,
                        f"{field}[{key!r}]",
                        f"value is {size} bytes, more than the limit of {max_bytes} "
                        "(max_attribute_value_bytes)",
                    )
        elif cls not in _SCALARS:
            _check_container(key, value, max_bytes, field)


def _check_container(key: str, value: Any, max_bytes: int, field: str) -> None:
    where = f"{field}[{key!r}]"
    if not isinstance(key, str):
        raise fail(ValidationError, field, f"keys must be strings, got {shown(key)}")
    try:
        size = len(orjson.dumps(value))
    except TypeError as exc:  # orjson.JSONEncodeError: not JSON, nested too deep, lone surrogates
        raise fail(ValidationError, where, f"value is not a JSON value ({exc})") from None
    if size > max_bytes:
        raise fail(
            LimitExceededError,
            where,
            f"value is {size} bytes as JSON, more than the limit of {max_bytes} (max_attribute_value_bytes)",
        )


def check_attribute_count(n_attributes: int, n_resource: int, limit: int, field: str) -> None:
    """Attributes and resource attributes of one span together stay within the limit."""
    if n_attributes + n_resource > limit:
        raise fail(
            LimitExceededError,
            field,
            f"{n_attributes} attributes + {n_resource} resource attributes is more than the limit of "
            f"{limit} (max_attributes_per_span)",
        )
