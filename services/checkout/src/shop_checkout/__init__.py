"""The shop checkout service."""
