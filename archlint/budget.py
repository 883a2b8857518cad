"""A time budget for work done after loading (report drawing): the same SIGALRM mechanism as the
per-file budget of :func:`archlint.api.lint_one`, usable around any call."""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class BudgetExceeded(BaseException):
    """The budget's alarm; a BaseException so that ``except Exception`` in the work cannot swallow it."""


def within(seconds: float | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, interrupted by :class:`BudgetExceeded` after ``seconds`` (None or 0: no
    limit; off the main thread, or without ``setitimer``, no limit either)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return fn(*args, **kwargs)

    def _alarm(signum: int, frame: object) -> None:
        raise BudgetExceeded

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
