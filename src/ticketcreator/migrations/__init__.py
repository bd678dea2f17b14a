"""Alembic migrations of the ticketcreator schema (one revision per change)."""
