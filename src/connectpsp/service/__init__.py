"""Use cases. They reach the outside only through the ports in ``ports``."""
