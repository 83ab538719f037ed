"""Function-preserving growth of a trained network's width (Net2Net-style, Chen et al. 2016).

A campaign model that has stopped improving for lack of capacity need not start over: the
same architecture with more features per layer can start from the trained weights and
compute exactly the same function. :func:`grow_state` builds that state dict:

- each convolution (or linear layer) keeps its trained block ``W[:out0, :in0]``;
- the trained outputs ignore the new inputs: ``W[:out0, in0:] = 0``;
- the new outputs ``W[out0:, :]`` (and their biases) keep the fresh initialisation, so the
  new channels carry signal and every new weight gets a gradient from the first step
  (zeroing both sides would be a saddle the optimiser never leaves).

Channels are appended at the end of every grown dimension, which preserves the function
for additive skips and pixel-shuffle upsamplers (old channel ``c`` stays group ``c``), but
not where grown tensors are concatenated along channels (the second part's old channels
move). :func:`grow_model` therefore checks the grown network against the trained one on a
random input and refuses when they differ.
"""

from __future__ import annotations

import torch
from torch import nn

from restora.errors import ConfigError

__all__ = ["grow_state", "grow_model"]

_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)  # weights (in, out, ...)
_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, *_TRANSPOSED)


def _grown_weight(fresh: torch.Tensor, old: torch.Tensor, transposed: bool) -> torch.Tensor:
    """``fresh`` with the trained block of ``old`` in place and old outputs blind to new inputs."""
    w = fresh.detach().clone()
    if transposed:  # ConvTranspose weights are (in, out, ...)
        i0, o0 = old.shape[:2]
        w[:i0, :o0] = old
        w[i0:, :o0] = 0
    else:
        o0, i0 = old.shape[:2]
        w[:o0, :i0] = old
        w[:o0, i0:] = 0
    return w


def grow_state(model: nn.Module, trained: dict[str, torch.Tensor], source: str = "model.init") -> dict[str, torch.Tensor]:
    """State dict for ``model`` (a wider copy of the trained architecture) from ``trained``.

    Every tensor name of ``model`` must be in ``trained``, with each dimension the same or
    larger and the kernel sizes equal; layers of the same size are copied as they are.
    Raises :class:`ConfigError` naming the first tensor that does not fit.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in trained]
    extra = [k for k in trained if k not in own]
    if missing or extra:
        name = (missing or extra)[0]
        raise ConfigError(f"config key 'model.init_grow': {source} and the architecture differ in tensor {name!r} "
                          "(growth adds features per layer, not layers)")
    kinds = {f"{name}.weight": isinstance(m, _TRANSPOSED) for name, m in model.named_modules() if isinstance(m, _LAYERS)}
    out: dict[str, torch.Tensor] = {}
    for k, fresh in own.items():
        old = trained[k]
        if old.shape == fresh.shape:
            out[k] = old.clone()
            continue
        if old.dim() != fresh.dim() or any(a > b for a, b in zip(old.shape, fresh.shape)) or old.shape[2:] != fresh.shape[2:]:
            raise ConfigError(f"config key 'model.init_grow': tensor {k!r} of {source} is {tuple(old.shape)}, "
                              f"the architecture's {tuple(fresh.shape)} (only channel counts may grow)")
        if k in kinds:
            out[k] = _grown_weight(fresh, old, kinds[k])
        elif old.dim() == 1:  # a bias or per-channel scale: new channels keep their fresh values
            g = fresh.detach().clone()
            g[: old.shape[0]] = old
            out[k] = g
        else:
            raise ConfigError(f"config key 'model.init_grow': cannot grow tensor {k!r} ({tuple(old.shape)} -> {tuple(fresh.shape)})")
    return out


@torch.no_grad()
def grow_model(model: nn.Module, trained_model: nn.Module, example: tuple[torch.Tensor, ...], source: str = "model.init",
               atol: float = 1e-4) -> None:
    """Load ``trained_model``'s weights into the wider ``model`` and check the function is kept.

    ``example``: inputs for one forward pass of both networks (e.g. a random image and its
    noise map). Raises :class:`ConfigError` when the grown network's output differs from the
    trained one's by more than ``atol`` (an architecture that concatenates grown features).
    """
    model.load_state_dict(grow_state(model, trained_model.state_dict(), source))
    was = model.training, trained_model.training
    model.eval()
    trained_model.eval()
    try:
        a, b = model(*example), trained_model(*example)
    finally:
        model.train(was[0])
        trained_model.train(was[1])
    err = float((a - b).abs().max())
    if not err <= atol:
        raise ConfigError(f"config key 'model.init_grow': the grown network does not compute {source}'s function "
                          f"(max difference {err:.3g}); this architecture cannot be grown by appending channels")
