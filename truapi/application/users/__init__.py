"""Use cases on users."""
