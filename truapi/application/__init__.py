"""Use cases and the ports they need. Imports the domain, never adapters or the web layer."""
