"""The shop inventory service: stock per SKU per location, reservations with expiry, allocation."""
