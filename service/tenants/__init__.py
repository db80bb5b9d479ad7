"""Tenants: many organisations in one deployment (issue 18, docs/plans/tenants.md)."""
