"""``python -m scillm`` runs the command line."""

from scillm.cli import main

main()
