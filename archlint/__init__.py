"""archlint: a linter and advisor for neural-network architectures."""

from __future__ import annotations

__version__ = "0.1.0"

from archlint.api import lint  # noqa: E402
from archlint.live import CheckResult, check  # noqa: E402

__all__ = ["CheckResult", "__version__", "check", "lint"]
