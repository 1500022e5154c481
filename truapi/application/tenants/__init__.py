"""Use cases on tenants."""
