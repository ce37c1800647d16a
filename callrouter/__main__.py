"""``python -m callrouter`` runs the CLI."""

from callrouter.cli import main

main()
