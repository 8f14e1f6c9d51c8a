"""Redis adapters: the embedded Valkey server and the stores built on Redis."""
