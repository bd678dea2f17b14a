"""Cross-cutting building blocks: configuration, database, errors, logging, outbox, models."""
