"""Uploads: the tus 1.0.0 resumable protocol for recordings and the single-request upload for
small files. Both stream to storage, check the type from the bytes, and end in an attachment."""
