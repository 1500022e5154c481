"""``python -m truapi``."""

from truapi.cli import main

main()
