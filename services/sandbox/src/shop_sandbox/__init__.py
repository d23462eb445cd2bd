"""The payment provider sandbox: an HTTP service that behaves like a card processor."""
