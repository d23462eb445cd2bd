"""Approval rules of B2B companies: which orders wait for whom, and the chain of approval steps an
order's facts resolve to (docs/architecture.md "Approval rules")."""
