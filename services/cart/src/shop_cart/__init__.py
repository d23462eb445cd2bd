"""The shop cart service."""
