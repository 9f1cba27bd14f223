"""``python -m perfkit``."""

from perfkit.cli import main

main()
