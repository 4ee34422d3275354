"""``python -m fairframe`` runs the CLI."""

from fairframe.cli import main

main()
