"""``restora models list|info|install``: the model zoo."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
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


def colour_mode(card, condition: str | None = None, *, short: bool = False) -> str:
    """How a model runs on colour images, for the ``channels`` field: ``"3 (RGB)"``, or for a
    1-channel model the planes it sees (as :class:`restora.zoo.restorers.NeuralRestorer` runs it)."""
    if card.channels != 1:
        return f"{card.channels} (RGB)" if card.channels == 3 else str(card.channels)
    if card.color_split == "opponent":
        mode, long = "opponent", "opponent-colour channels one at a time (trained on them)"
    elif condition == "noise_map" and card.task == "denoise":
        mode, long = "opponent", "opponent-colour channels one at a time"
    elif card.task == "jpeg":
        mode, long = "YCbCr", "JPEG YCbCr planes one at a time"
    elif getattr(card, "input_upsampled", False):
        mode, long = "luma", "the luma after a bicubic upscale (chroma stays bicubic)"
    else:
        mode, long = "per channel", "each RGB channel in turn"
    return f"1 (RGB: {mode})" if short else f"1; colour images: {long}"


def _condition(card) -> str | None:
    from restora.nn.registry import create_model, describe

    try:
        return describe(create_model(card.arch, **card.args), measure_flops=False).condition
    except Exception:  # an unknown architecture: the card alone says the rest
        return None


@models_app.command("list")
def list_cmd() -> None:
    """List shipped and cached models with their task and headline score."""
    from restora import zoo

    table = Table(title="restora models")
    for col in ("name", "task", "arch", "scale", "channels", "headline score"):
        table.add_column(col)
    for card in zoo.list_models():
        score = _headline(card.scores)
        channels = colour_mode(card, _condition(card) if card.channels == 1 else None, short=True)
        table.add_row(escape(card.name), card.task, card.arch, str(card.scale), channels, escape(score))
    console.print(table)


def _range(values) -> str | None:
    if not values:
        return None
    lo, hi = values[0], values[-1]
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def info_lines(card, descriptor: dict) -> list[tuple[str, str]]:
    """The readable summary of ``models info``: (label, value) rows."""
    rows: list[tuple[str, str]] = [("name", card.name), ("task", card.task)]
    if card.description:
        rows.append(("description", card.description))
    args = ", ".join(f"{k}={v}" for k, v in card.args.items())
    rows.append(("architecture", f"{card.arch} ({args})" if args else card.arch))
    params = descriptor.get("params")
    if params is not None:
        flops = descriptor.get("flops_per_pixel")
        rows.append(("parameters", f"{params / 1e6:.3g} M" + (f", {flops / 1e3:.4g} kFLOP/pixel" if flops else "")))
    rows.append(("channels", colour_mode(card, descriptor.get("condition"))))
    if card.scale > 1:
        rows.append(("scale", f"x{card.scale}"))
    if _range(card.noise_range):
        rows.append(("noise sigma", f"{_range(card.noise_range)} (8-bit levels)"))
    if _range(card.quality_range):
        rows.append(("JPEG quality", _range(card.quality_range)))
    if card.degradation:
        rows.append(("trained on", f"{card.degradation} degradation"))
    t = card.training or {}
    if t.get("steps"):
        hw = t.get("hardware") or {}
        where = hw.get("gpu") or (f"{hw.get('cpu_count')}-core CPU" if hw.get("device") == "cpu" and hw.get("cpu_count") else hw.get("device"))
        parts = [f"{t['steps']} steps"]
        if t.get("batch_size"):
            parts.append(f"batch {t['batch_size']}")
        if where:
            parts.append(f"on {where}" + (f" x{hw['world_size']}" if (hw.get("world_size") or 1) > 1 else ""))
        if t.get("wall_time_s"):
            parts.append(f"{t['wall_time_s'] / 3600:.2g} h")
        rows.append(("training", ", ".join(parts)))
    for key, vals in card.scores.items():
        if isinstance(vals, dict):
            shown = ", ".join(f"{m.upper()} {v:.2f}" + (" dB" if m == "psnr" else "") if m == "psnr" else f"{m.upper()} {v:.4f}"
                              for m, v in vals.items() if isinstance(v, (int, float)) and m in ("psnr", "ssim", "lpips", "niqe"))
            if shown:
                rows.append((f"score {key}", shown))
    rows.append(("license", card.license))
    if card.sha256:
        rows.append(("sha256", card.sha256[:16] + "..."))
    return rows


@models_app.command("info")
def info_cmd(
    name: str = typer.Argument(..., help="Model name or .safetensors path"),
    as_json: bool = typer.Option(False, "--json", help="Print the whole card and descriptor as JSON"),
) -> None:
    """Print a summary of a model's card (task, architecture, size, ranges, training, scores)."""
    from restora import zoo
    from restora.nn import describe

    loaded = zoo.load(name)
    d = describe(loaded.model)
    descriptor = {"params": d.params, "flops_per_pixel": d.flops_per_pixel, "size_multiple": d.size_multiple, "dtypes": list(d.dtypes),
                  "condition": d.condition}
    if as_json:
        info = asdict(loaded.card)
        info["descriptor"] = descriptor
        console.print_json(json.dumps(info))
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for label, value in info_lines(loaded.card, descriptor):
        table.add_row(escape(label), escape(str(value)))
    console.print(table)


@models_app.command("install")
def install_cmd(
    path: Path = typer.Argument(..., help="A .safetensors file with its .json card beside it"),
    name: Optional[str] = typer.Option(None, "--name", help="Install under this name (its card is renamed); needed when the card's name is a shipped model's"),
) -> None:
    """Verify a weights file and copy it (with its card) into the model cache."""
    from restora import zoo

    dest = zoo.install(path, name=name)
    console.print(f"installed {escape(str(dest))} as {escape(dest.stem)}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
