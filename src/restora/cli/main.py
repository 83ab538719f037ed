"""The ``restora`` command. Sub-command modules register themselves via ``register(app)``."""

from __future__ import annotations

import importlib
import sys
import warnings

import typer
from rich.console import Console
from rich.markup import escape

from restora import __version__
from restora.errors import RestoraError

app = typer.Typer(
    name="restora",
    help="Image restoration: degrade, restore, measure and benchmark images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _flags_take_no_value() -> None:
    """typer's rich help prints the type of every option, ``<bool>`` after flags too, as if
    ``--overwrite`` took a value: flags (and counters) show no type."""
    from typer.core import TyperOption

    show = getattr(TyperOption, "display_type_rich", None)
    if show is None or getattr(show, "_restora_flags", False):
        return

    def display_type_rich(self, ctx):  # type: ignore[no-untyped-def]
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        return show(self, ctx)

    display_type_rich._restora_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()

# Each module in restora.cli that exists and defines register(app) adds its commands.
COMMAND_MODULES = (
    "degrade",
    "metrics",
    "bench",
    "denoise",
    "upscale",
    "deblur",
    "models",
    "train",
    "restore",
    "serve",
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"restora.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"restora.cli.{name}":
                continue
            raise
        module.register(app)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


_register_all()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a :class:`RestoraError` becomes a one-line message and exit code 2."""
    from PIL import Image

    # restora.io enforces its own pixel limit with a clear error; Pillow's warning is noise.
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    try:
        app(args=argv, prog_name="restora")
    except RestoraError as exc:
        # escaped: hints such as pip install 'restora[bench]' are not rich markup
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
