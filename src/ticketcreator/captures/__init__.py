"""Captures: what the browser extension gathered about a problem, linked to a ticket."""
