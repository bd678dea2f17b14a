"""Event deliveries seen from outside: the dead-letter list, counts per state, and replay.

The delivery machinery itself lives in :mod:`ticketcreator.core.outbox`. Administrators see
and replay the deliveries of their own organization's events (API); operators see every
delivery, system events included, with the full error text (``ticketcreator outbox``).
"""
