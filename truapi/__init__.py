"""TruAPI: identity and access as a small, fast, explainable service."""

__version__ = "0.1.0"
