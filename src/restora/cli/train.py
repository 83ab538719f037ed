"""``restora train recipe.yaml``: train a network from a YAML recipe (see docs/training.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

_TASK_OF_DEGRADATION = {"gaussian": "denoise", "camera": "denoise", "jpeg": "jpeg", "motion": "deblur",
                        "bicubic": "sr", "realesrgan": "sr", "bsrgan": "sr"}


def _task_key(raw: dict) -> tuple[str, int] | None:
    """(task, scale) of a raw recipe mapping, from its degradation (None: unknown)."""
    deg = (raw.get("data") or {}).get("degradation") or {}
    dtype = deg.get("type", "gaussian") if isinstance(deg, dict) else None
    task = _TASK_OF_DEGRADATION.get(str(dtype)) if dtype is not None else None
    if task is None:
        return None
    return task, int(deg.get("scale", 1) or 1) if task == "sr" else 1


def cpu_recipe_folder(recipe: Path) -> Path | None:
    """The folder of CPU recipes: ``cpu/`` beside the recipe, else the repository's ``configs/cpu``."""
    here = recipe.expanduser().resolve().parent
    for cand in (here / "cpu", here.parent / "cpu", Path(__file__).resolve().parents[3] / "configs" / "cpu"):
        if cand.is_dir():
            return cand
    return None


def cpu_recipes_for(recipe: Path, raw: dict) -> list[Path]:
    """The CPU recipes (``configs/cpu/**/*.yaml``) that train the same task (and scale) as
    ``raw``; empty when ``recipe`` already lies under a ``cpu`` folder or none matches."""
    from restora.errors import RestoraError
    from restora.train.config import load_raw

    recipe = recipe.expanduser().resolve()
    if "cpu" in recipe.parent.parts:
        return []
    folder = cpu_recipe_folder(recipe)
    key = _task_key(raw)
    if folder is None or key is None:
        return []
    found = []
    for cand in sorted(folder.rglob("*.yaml")):
        if cand.name == "base.yaml":
            continue
        try:
            if _task_key(load_raw(cand)) == key:
                found.append(cand)
        except (RestoraError, OSError, ValueError):
            continue
    return found


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def train_command(
    config: Path = typer.Argument(..., help="YAML recipe (see configs/ and docs/training.md)"),
    set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="Override a key: --set train.steps=100 (repeatable; value is YAML)"),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N (overrides train.device)"),
    resume: Optional[str] = typer.Option(None, "--resume", help="'latest' (newest checkpoint in the output folder) or a checkpoint path"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output folder (overrides the recipe's output)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over in an output folder that holds a previous run"),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved recipe (YAML) and exit"),
    export: Optional[Path] = typer.Option(None, "--export", help="With --resume: write that checkpoint's model and card to this .safetensors file (validated), no training"),
) -> None:
    """Train a restoration network; writes logs, checkpoints, a loss plot and the exported model."""
    import yaml
    from rich.console import Console

    from restora.train import config_to_dict, load_config
    from restora.train.trainer import Trainer

    overrides = list(set_ or [])
    if device is not None:
        overrides.append(f"train.device={device}")
    if output is not None:
        overrides.append(f"output={output}")
    cfg = load_config(config, overrides)
    console = Console(stderr=True)
    if print_config:
        typer.echo(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), nl=False)
        return
    if export is not None:
        path, val = Trainer(cfg, resume=resume, console=console).export(export)
        console.print(f"exported {path}", highlight=False, soft_wrap=True)
        if val:
            console.print(f"validation: PSNR {val['psnr']:.2f} dB (input {val['input_psnr']:.2f} dB), SSIM {val['ssim']:.4f}", highlight=False, soft_wrap=True)
        return
    _point_to_cpu_recipes(config, cfg, console)
    try:
        result = Trainer(cfg, resume=resume, overwrite=overwrite, console=console).run()
    except KeyboardInterrupt:  # the trainer saved a checkpoint and said so
        raise typer.Exit(130) from None
    if result.rank == 0:
        val = result.val
        if result.export_path is not None:
            console.print(f"exported {result.export_path}", highlight=False, soft_wrap=True)
        else:
            console.print(f"stopped at step {result.step}; continue with --resume latest", highlight=False, soft_wrap=True)
        if val:
            console.print(f"validation: PSNR {val['psnr']:.2f} dB (input {val['input_psnr']:.2f} dB), SSIM {val['ssim']:.4f}", highlight=False, soft_wrap=True)


def _point_to_cpu_recipes(recipe: Path, cfg, console) -> None:
    """On a CPU, a recipe outside ``configs/cpu`` (sized for a GPU) gets one line naming the
    CPU recipes of the same task."""
    from restora.engine.inference import pick_device
    from restora.errors import RestoraError
    from restora.train.config import config_to_dict

    try:
        if pick_device(cfg.train.device).type != "cpu":
            return
    except RestoraError:
        return  # the trainer reports a bad device
    found = cpu_recipes_for(recipe, config_to_dict(cfg))
    if found:
        names = ", ".join(_display(p) for p in found)
        from rich.markup import escape

        console.print(escape(f"note: training on the CPU; {recipe} is sized for a GPU. CPU recipes for this task: {names}"), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
