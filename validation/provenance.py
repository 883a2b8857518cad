"""What is needed to rerun a validation: code version, device, library versions."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import __version__


def code_version() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=here,
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return f"git:{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"archlint-validation {__version__}"


#: the modules whose code decides a run's numbers (data order, network, optimiser, trainer)
TRAINING_MODULES = ("data.py", "models.py", "train.py", "fast_trainer.py", "philox.py")


def training_code_version() -> str:
    """A content hash of the training code: runs made by different training code never share a
    settings folder, while report-only changes (statistics, plots) keep finished runs usable."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in TRAINING_MODULES:
        h.update(name.encode() + b"\0" + (here / name).read_bytes() + b"\0")
    return f"sha256:{h.hexdigest()[:16]}"


def device_kind(device) -> str:
    """'cpu', or 'cuda:<GPU name>': numbers from different hardware are not mixed."""
    if str(device).startswith("cuda"):
        import torch

        return f"cuda:{torch.cuda.get_device_name(device)}"
    return str(device)


def device_info(device) -> dict:
    import torch

    info = {"device": str(device), "platform": platform.platform(), "processor": platform.processor() or None,
            "cpu_threads": torch.get_num_threads()}
    if str(device).startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def library_versions() -> dict:
    versions = {"python": sys.version.split()[0]}
    for name in ("torch", "numpy", "matplotlib", "PIL", "scipy"):
        mod = sys.modules.get(name)
        if mod is None:
            try:
                mod = __import__(name)
            except ImportError:
                continue
        versions[name] = getattr(mod, "__version__", "?")
    return versions


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
