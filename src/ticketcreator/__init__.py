"""AI Ticket Creator: browser captures in, AI-triaged and routed tickets out."""

__version__ = "0.1.0"
