"""Locust scenarios for the shop: HTTP users of the gateway and a gRPC user of the storefront API."""
