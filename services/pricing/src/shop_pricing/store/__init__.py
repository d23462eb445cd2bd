"""The pricing database: tables (`tables`) and async repository functions taking an AsyncConnection."""

from shop_pricing.store.tables import inbox, metadata, outbox

__all__ = ["inbox", "metadata", "outbox"]
