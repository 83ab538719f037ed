"""Shared CLI output for batch commands: the table of files that failed."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def exit_if_failed(failed: list[tuple[str, str]], console: Console) -> None:
    """Print a table of ``(file, error)`` pairs and exit with code 1 if there are any."""
    if not failed:
        return
    table = Table(title=f"{len(failed)} file(s) failed", title_style="bold red")
    table.add_column("file")
    table.add_column("error")
    for name, msg in failed:
        table.add_row(escape(name), escape(msg))  # file names and messages are not markup
    console.print(table)
    raise typer.Exit(code=1)
