"""Adapters: everything that talks to Kafka, Redis, OpenTelemetry or the network."""
