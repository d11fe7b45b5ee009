"""An exported model folder's file names (model.onnx, model.lock.json, card.yaml) and their sha256.

Torch-free: the gate reads exported folders without importing the training stack.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ONNX_NAME = "model.onnx"
LOCK_NAME = "model.lock.json"
CARD_NAME = "card.yaml"


def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
