"""``restora models list|info|install``: the model zoo."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

models_app = typer.Typer(help="List, inspect and install restoration models.", no_args_is_help=True)
console = Console()


#: Benchmark keys shown in ``models list``, most telling first (the middle setting, blind).
HEADLINE_KEYS = ("s25+blind", "s25", "q20", "x4", "x2")


def _headline(scores: dict) -> str:
    """The most telling PSNR of a card's scores, as ``"key: 28.20 dB"`` (``-`` if none)."""
    keys = [k for k, v in scores.items() if isinstance(v, dict) and "psnr" in v]
    if not keys:
        return "-"
    ranked = sorted(keys, key=lambda k: next((i for i, h in enumerate(HEADLINE_KEYS) if h in k), len(HEADLINE_KEYS)))
    return f"{ranked[0]}: {scores[ranked[0]]['psnr']:.2f} dB"


@models_app.command("list")
def list_cmd() -> None:
    """List shipped and cached models with their task and headline score."""
    from restora import zoo

    table = Table(title="restora models")
    for col in ("name", "task", "arch", "scale", "channels", "headline score"):
        table.add_column(col)
    for card in zoo.list_models():
        score = _headline(card.scores)
        table.add_row(card.name, card.task, card.arch, str(card.scale), str(card.channels), score)
    console.print(table)


@models_app.command("info")
def info_cmd(name: str = typer.Argument(..., help="Model name or .safetensors path")) -> None:
    """Print a model's card and descriptor (parameters, FLOPs per pixel)."""
    from restora import zoo
    from restora.nn import describe

    loaded = zoo.load(name)
    d = describe(loaded.model)
    info = asdict(loaded.card)
    info["descriptor"] = {"params": d.params, "flops_per_pixel": d.flops_per_pixel, "size_multiple": d.size_multiple, "dtypes": list(d.dtypes)}
    console.print_json(json.dumps(info))


@models_app.command("install")
def install_cmd(path: Path = typer.Argument(..., help="A .safetensors file with its .json card beside it")) -> None:
    """Verify a weights file and copy it (with its card) into the model cache."""
    from restora import zoo

    dest = zoo.install(path)
    console.print(f"installed {dest}")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
