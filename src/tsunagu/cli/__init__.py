"""The `tsunagu` command line (typer + rich)."""
