"""The shop customers service: what a shopper keeps in their account."""
