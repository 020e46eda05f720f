"""`python -m tsunagu` runs the command-line interface."""

from tsunagu.cli.main import main

main()
