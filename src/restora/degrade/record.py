"""The result type of degradation operations: the image plus a JSON-serialisable record."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import numpy as np


class Degraded(NamedTuple):
    """An image and the record of what was applied; unpacks as ``image, record``."""

    image: np.ndarray
    record: dict[str, Any]


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays (and nested containers) into plain JSON types."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def to_json(record: dict[str, Any], **kwargs: Any) -> str:
    """Serialise a record to JSON (numpy values converted)."""
    return json.dumps(jsonable(record), **kwargs)
