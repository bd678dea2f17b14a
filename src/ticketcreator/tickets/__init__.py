"""Tickets: the normalized ticket model, its workflow and its REST API."""
