"""Webhooks: subscriptions, the outbox written with each status change, signed deliveries."""
