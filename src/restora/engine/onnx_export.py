"""ONNX export with dynamic height and width, verified against the PyTorch output."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from restora.errors import MissingResourceError, RestoraError
from restora.nn.spec import ModelDescriptor


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    descriptor: ModelDescriptor | None = None,
    *,
    opset: int = 18,
    verify: bool = True,
    probe_size: tuple[int, int] = (48, 64),
    atol: float = 1e-4,
) -> Path:
    """Export ``model`` to ONNX (input ``image``: B x C x H x W, H/W/B dynamic).

    With ``verify`` the exported graph is run with onnxruntime on a probe whose size differs
    from the tracing size, and compared with PyTorch (max abs difference <= ``atol``).
    Requires the ``onnx`` extra (onnx, onnxruntime, onnxscript).
    """
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise MissingResourceError("ONNX export needs the 'onnx' extra: pip install 'restora[onnx]'") from None
    if descriptor is None:
        from restora.nn.registry import describe

        descriptor = describe(model, measure_flops=False)
    if descriptor.condition is not None:
        raise RestoraError(f"ONNX export of condition-taking models ({descriptor.arch}) is not supported")
    model = model.eval().float().cpu()
    m = descriptor.size_multiple
    trace = torch.rand(2, descriptor.in_channels, 8 * m if m > 1 else 40, 8 * m if m > 1 else 56)
    out_path = Path(path)
    tmp = Path(tempfile.mkstemp(suffix=".onnx", dir=out_path.parent if out_path.parent.exists() else None)[1])
    try:
        batch, height, width = torch.export.Dim("batch", max=1024), torch.export.Dim("height", min=m, max=16384), torch.export.Dim("width", min=m, max=16384)
        if m > 1:
            height, width = m * torch.export.Dim("h_blocks", max=16384 // m), m * torch.export.Dim("w_blocks", max=16384 // m)
        torch.onnx.export(
            model,
            (trace,),
            str(tmp),
            input_names=["image"],
            output_names=["restored"],
            dynamic_shapes={"x": {0: batch, 2: height, 3: width}},
            opset_version=opset,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        if verify:
            verify_onnx(model, tmp, descriptor, probe_size=probe_size, atol=atol)
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def verify_onnx(model: nn.Module, path: str | os.PathLike[str], descriptor: ModelDescriptor, *, probe_size: tuple[int, int] = (48, 64), atol: float = 1e-4) -> float:
    """Max abs difference between onnxruntime and PyTorch on a probe; raises if above ``atol``."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingResourceError("ONNX verification needs onnxruntime: pip install 'restora[onnx]'") from None
    m = descriptor.size_multiple
    h, w = (-(-probe_size[0] // m) * m, -(-probe_size[1] // m) * m)
    x = torch.rand(2, descriptor.in_channels, h, w, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ref = model(x).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    if got.shape != ref.shape:
        raise RestoraError(f"ONNX output shape {got.shape} != PyTorch {ref.shape} for {path}")
    diff = float(np.abs(got - ref).max())
    if diff > atol:
        raise RestoraError(f"ONNX output differs from PyTorch by {diff:.2e} (> {atol:g}) for {path}")
    return diff
