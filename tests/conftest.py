"""Shared test configuration. Integration fixtures (broker, Redis) live in tests/integration."""
