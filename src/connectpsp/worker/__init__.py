"""Loops that claim outbox jobs: settlement now, webhook delivery next."""
