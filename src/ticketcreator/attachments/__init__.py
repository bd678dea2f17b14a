"""Attachments: stored files (screenshots, recordings, logs), their processing and downloads."""
