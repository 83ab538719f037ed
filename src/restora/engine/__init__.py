"""Inference engine: tiled, batched, any device and precision; ONNX export."""

from restora.engine.inference import TiledEngine, pick_device, pick_dtype
from restora.engine.tiling import Tile, blend_window, layout

__all__ = ["Tile", "TiledEngine", "blend_window", "layout", "pick_device", "pick_dtype"]
