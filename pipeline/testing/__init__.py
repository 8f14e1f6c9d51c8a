"""Test helpers shared by tests/integration and tests/e2e (real broker and Redis, no mocks)."""
