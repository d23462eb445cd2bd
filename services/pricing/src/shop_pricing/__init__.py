"""The shop pricing service."""
