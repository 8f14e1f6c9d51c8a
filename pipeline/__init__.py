"""obspipe: an event-driven observability pipeline on Kafka.

`pipeline.domain` is the pure core (no Kafka, Redis or faust imports); `pipeline.adapters`
holds the I/O; `pipeline.cli` is the `obspipe` command.
"""

__version__ = "0.1.0"
