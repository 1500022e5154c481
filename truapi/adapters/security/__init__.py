"""Security adapters: password hashing and the common-password list."""
