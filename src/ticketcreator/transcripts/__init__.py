"""Text of attachments: transcripts of recordings and OCR of screenshots."""
