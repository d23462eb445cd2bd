"""The catalog service: products and their SKUs, the category tree, filters and full-text search."""
