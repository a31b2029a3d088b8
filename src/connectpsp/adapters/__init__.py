"""Adapters: storage, rails, crypto and transports behind the service's ports."""
