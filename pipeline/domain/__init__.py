"""The pure core: plain dataclasses and functions. No Kafka, Redis, faust or network imports
(enforced by tests/unit/test_layering.py)."""
