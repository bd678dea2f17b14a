"""Notifications to systems outside the product: outgoing webhooks to customers' systems."""
