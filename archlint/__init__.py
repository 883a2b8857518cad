"""archlint: a linter and advisor for neural-network architectures."""

from __future__ import annotations

from archlint.version import __version__

from archlint.api import lint  # noqa: E402
from archlint.live import CheckResult, check  # noqa: E402

__all__ = ["CheckResult", "__version__", "check", "lint"]
