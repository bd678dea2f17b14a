"""Integrations: vendor issue trackers kept in sync with tickets, both ways."""
