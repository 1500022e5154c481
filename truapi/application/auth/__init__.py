"""Authentication use cases: login, tokens, sessions, signing keys, revocations."""
