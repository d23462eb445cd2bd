"""The shop service kit: what every service shares, written once."""
