"""Real-time stream: ticket, upload, media and triage events over WebSocket and SSE."""
