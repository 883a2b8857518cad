"""Where training runs: the device named on the command line, and the data placed on it.

Used by the runner (its warm-up and the in-process executor) and by the executors' workers;
torch is imported only when a function is called.
"""

from __future__ import annotations

from .errors import ValidationError


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValidationError("--device cuda requested but CUDA is not available")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValidationError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


_DATA_CACHE: dict = {}


def device_data(split, protocol: str, device):
    """The split's tensors on ``device`` for ``protocol`` (a few kept, so packs on one worker share them)."""
    from .train import DeviceData

    key = (id(split), protocol, str(device))
    if key not in _DATA_CACHE:
        if len(_DATA_CACHE) > 8:
            _DATA_CACHE.clear()
        _DATA_CACHE[key] = (split, DeviceData(split, protocol, device))  # keep split alive: ids stay unique
    return _DATA_CACHE[key][1]
