"""MTCNN's P-, R- and O-net (Zhang et al., 2016) in torch, from the facenet-pytorch wheel's weights, exported once.

The ``facenet-pytorch==2.6.0`` wheel (MIT) ships ``facenet_pytorch/data/{pnet,rnet,onet}.pt``: state dicts
of the three cascaded networks. That package pins an old torch, so it is installed with
``pip install --no-deps`` and never imported: the files are found with ``importlib.metadata`` and read with
``torch.load(weights_only=True)`` into the product's own modules below (the same layer names, so the
state dicts load strictly). :func:`convert_mtcnn` exports each to ONNX (P-net with a dynamic image size,
R/O-net with a dynamic batch), checks onnxruntime against torch on seeded inputs and writes a lock file
with every ONNX file's sha256. This module is the only one that needs torch for face detection; the
detector itself (:mod:`affectgate.datasets.faces.mtcnn`) runs the ONNX files in onnxruntime and imports
this module only when they are missing.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from affectgate.core.errors import ModelError
from affectgate.zoo.wheels import wheel_file

WHEEL = "facenet-pytorch"
WHEEL_VERSION = "2.6.0"
NETS = ("pnet", "rnet", "onet")
LOCK = "mtcnn.lock.json"
PARITY_TOLERANCE = 1e-4
INSTALL_FIX = (
    f"install the weights wheel without its dependencies: .venv/bin/pip install --no-deps {WHEEL}=={WHEEL_VERSION} "
    "(make install does it); the package is never imported"
)


class PNet(nn.Module):
    """Proposal net: fully convolutional, 12 x 12 receptive field, stride 2; (box regression, face probability)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.softmax4_1 = nn.Conv2d(32, 2, 1), nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.softmax4_1(self.conv4_1(x))


class RNet(nn.Module):
    """Refine net on 24 x 24 crops: (box regression, face probability)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.softmax5_1 = nn.Linear(128, 2), nn.Softmax(dim=1)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x)).permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), self.softmax5_1(self.dense5_1(x))


class ONet(nn.Module):
    """Output net on 48 x 48 crops: (box regression, five landmarks as 5 x then 5 y, face probability)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.softmax6_1 = nn.Linear(256, 2), nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x)).permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), self.softmax6_1(self.dense6_1(x))


_SPECS = {
    # net: (module, example input shape, output names, dynamic dims of the input)
    "pnet": (PNet, (1, 3, 60, 80), ("reg", "prob"), {0: "batch", 2: "height", 3: "width"}),
    "rnet": (RNet, (4, 3, 24, 24), ("reg", "prob"), {0: "batch"}),
    "onet": (ONet, (4, 3, 48, 48), ("reg", "landmarks", "prob"), {0: "batch"}),
}


def load_net(name: str) -> nn.Module:
    """One net with the wheel's weights (strict load, eval mode)."""
    path = wheel_file(
        dist=WHEEL, relative=f"facenet_pytorch/data/{name}.pt", version=WHEEL_VERSION, install_fix=INSTALL_FIX
    )
    module = _SPECS[name][0]()
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{path} does not match the {name} graph: {str(exc)[:200]}", fix=INSTALL_FIX) from None
    return module.eval()


def convert_mtcnn(*, out: Path) -> dict[str, object]:
    """Export P/R/O-net to ``out`` as ONNX with a parity check each, and write the sha256 lock; returns the lock."""
    import hashlib

    import onnxruntime as ort

    out.mkdir(parents=True, exist_ok=True)
    lock: dict[str, object] = {"source": f"{WHEEL}=={WHEEL_VERSION}", "torch_version": torch.__version__, "nets": {}}
    rng = np.random.default_rng(0)
    for name in NETS:
        module = load_net(name)
        cls, shape, outputs, dyn = _SPECS[name]
        example = torch.from_numpy(rng.uniform(-1, 1, size=shape).astype(np.float32))
        path = out / f"{name}.onnx"
        with warnings.catch_warnings():  # the TorchScript exporter: seconds for these small graphs (dynamo: minutes)
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (example,),
                str(path),
                input_names=["image"],
                output_names=list(outputs),
                opset_version=18,
                dynamo=False,
                dynamic_axes={"image": dict(dyn), **{o: {0: "batch"} for o in outputs}},
            )
        other = shape if name != "pnet" else (1, 3, 75, 101)
        check = rng.uniform(-1, 1, size=(other[0] + 1, *other[1:])).astype(np.float32)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        with torch.no_grad():
            expected = [t.numpy() for t in module(torch.from_numpy(check))]
        got = sess.run(list(outputs), {"image": check})
        diff = max(float(np.max(np.abs(e - g))) for e, g in zip(expected, got, strict=True))
        if not np.isfinite(diff) or diff > PARITY_TOLERANCE:
            path.unlink(missing_ok=True)
            raise ModelError(
                f"MTCNN {name}: ONNX differs from torch by {diff:.2e}", fix="report this with the versions"
            )
        lock["nets"][name] = {  # type: ignore[index]
            "onnx": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "parity_max_abs_diff": diff,
        }
    (out / LOCK).write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    return lock


__all__ = ["LOCK", "NETS", "ONet", "PNet", "RNet", "convert_mtcnn", "load_net"]
