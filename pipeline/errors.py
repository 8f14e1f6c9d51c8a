"""The project's exception hierarchy: one root, one subclass per area.

A record that fails with a `RecordError` is bad input: the stream apps send it to the
dead-letter topic with `reason` and count it; the CLI prints one line and goes on.
"""

from __future__ import annotations


class ObspipeError(Exception):
    """Root of every error obspipe raises on purpose."""


class ConfigError(ObspipeError, ValueError):
    """A setting or configuration file is invalid; the message is one line naming the field."""


class RecordError(ObspipeError, ValueError):
    """An input record cannot be used; `reason` is a short machine-readable code."""

    reason: str = "invalid_record"

    def __init__(self, message: str, *, reason: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.field = field


class DecodeError(RecordError):
    """The bytes are not JSON, OTLP JSON or OTLP protobuf of a kind obspipe accepts."""

    reason = "decode_error"


class ValidationError(RecordError):
    """The record decoded but a field is missing, malformed or out of bounds."""

    reason = "validation_error"


class LimitExceededError(ValidationError):
    """The record exceeds a configured limit (attributes, sizes, spans per record)."""

    reason = "limit_exceeded"


class InfrastructureError(ObspipeError, RuntimeError):
    """A broker, Redis or other process obspipe manages could not start or answer."""
