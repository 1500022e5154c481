"""Group use cases: groups, memberships and directory reconciliation."""
