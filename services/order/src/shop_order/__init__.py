"""The shop order service."""
