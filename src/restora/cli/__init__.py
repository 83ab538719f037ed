"""Command-line interface (typer). Thin: every command calls the Python API."""
