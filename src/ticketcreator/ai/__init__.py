"""AI triage: the local (offline) provider, text analysis and quality evaluation."""
