"""``restora train recipe.yaml``: train a network from a YAML recipe (see docs/training.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


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
    result = Trainer(cfg, resume=resume, overwrite=overwrite, console=console).run()
    if result.rank == 0:
        val = result.val
        if result.export_path is not None:
            console.print(f"exported {result.export_path}", highlight=False, soft_wrap=True)
        else:
            console.print(f"stopped at step {result.step}; continue with --resume latest", highlight=False, soft_wrap=True)
        if val:
            console.print(f"validation: PSNR {val['psnr']:.2f} dB (input {val['input_psnr']:.2f} dB), SSIM {val['ssim']:.4f}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
