"""AI triage of tickets: decisions, suggestions, feedback, embeddings and per-organization models.

Every new ticket is triaged on the ``ai`` queue: category, priority, type, tags, a better title
when the reporter's is poor, an extractive summary, language, sentiment, entities and similar
tickets. Confident answers are applied through the tickets service (actor: the AI), the others
are kept as suggestions; every answer is stored with who produced it and at what cost.
"""
