"""What ``archlint validate`` tells the user: the plan before anything starts (device, runs, steps,
a projected time from a short timed warm-up) and progress while it runs.

On a terminal progress is a rich bar; anywhere else (CI, nohup, ``2>log``) it is plain lines: one
when a run (or pack) starts, one every tenth of its steps, one when it ends.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Callable

#: a CPU job projected longer than this needs --yes
CPU_LIMIT_S = 3600.0
# what `validate MODEL` aims at on a CPU when --steps is not given
CPU_BUDGET_S = 600.0


def fmt_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unknown"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


@dataclass
class Plan:
    device: str
    runs_total: int
    runs_pending: int
    steps_per_run: int
    packs: int
    step_s: float  # measured seconds per optimizer step of one run (warm-up), NaN when nothing is pending
    eval_s_per_run: float
    pack_size: int
    threads: int

    @property
    def projected_s(self) -> float:
        if self.runs_pending == 0:
            return 0.0
        return self.runs_pending * (self.steps_per_run * self.step_s + self.eval_s_per_run)

    def lines(self) -> list[str]:
        done = self.runs_total - self.runs_pending
        out = [f"plan: {self.runs_total} runs ({done} already finished, {self.runs_pending} to train) x "
               f"{self.steps_per_run} steps on {self.device} ({self.threads} torch threads)"]
        if self.runs_pending:
            note = "" if self.pack_size == 1 else "; packs of runs on a GPU are faster than this projection"
            out.append(f"plan: warm-up {self.step_s * 1000:.0f} ms per step of one run -> projected "
                       f"{fmt_duration(self.projected_s)} one run at a time{note}")
        return out


def warmup_step_seconds(spec, data, batch_size: int, steps: int = 3) -> float:
    """Seconds per optimizer step of one plain run, timed over ``steps`` steps after one untimed."""
    import torch
    from torch.nn import functional as F

    from .train import init_single, make_optimizer

    model = init_single(spec, data.num_classes, data.device)
    opt = make_optimizer(model.parameters())
    g = torch.Generator().manual_seed(0)
    n = len(data.y["train"])

    def step() -> None:
        idx = torch.randint(0, n, (batch_size,), generator=g).to(data.device)
        loss = F.cross_entropy(model(data.images("train", idx)), data.y["train"][idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    if data.device.type == "cuda":
        torch.cuda.synchronize(data.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if data.device.type == "cuda":
        torch.cuda.synchronize(data.device)
    return (time.perf_counter() - t0) / steps


class Reporter:
    """Progress of the runs: ``start(label, runs, steps)``, ``advance(k)``, ``finish(summary)``."""

    def __init__(self, total_runs: int, steps_per_run: int, *, enabled: bool = True,
                 stream=None, log: Callable[[str], None] | None = None, every: int | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.log = log or (lambda s: (self.stream.write(s + "\n"), self.stream.flush()))
        self.total_runs = total_runs
        self.steps_per_run = steps_per_run
        self.every = every or max(1, steps_per_run // 10)
        self.enabled = enabled
        isatty = getattr(self.stream, "isatty", None)
        self.rich = None
        if enabled and isatty is not None and isatty():
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self.rich = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=Console(file=self.stream))
            self.rich.start()
            self.task = self.rich.add_task("training", total=total_runs * steps_per_run)
        self.runs_done = 0
        self.t0 = time.perf_counter()
        self._label = ""
        self._runs = 1
        self._step = 0
        self._pack_t0 = self.t0

    def start(self, label: str, runs: int) -> None:
        self._label, self._runs, self._step = label, runs, 0
        self._pack_t0 = time.perf_counter()
        if self.rich is not None:
            from rich.markup import escape

            self.rich.update(self.task, description=escape(label))  # a description is markup
        elif self.enabled:
            first = self.runs_done + 1
            which = f"run {first}" if runs == 1 else f"runs {first}-{first + runs - 1}"
            self.log(f"{which} of {self.total_runs}: {label}")

    def advance(self, k: int = 1) -> None:
        before = self._step
        self._step += k
        if self.rich is not None:
            self.rich.advance(self.task, k * self._runs)
        elif self.enabled and self._step // self.every > before // self.every and self._step < self.steps_per_run:
            elapsed = time.perf_counter() - self._pack_t0
            self.log(f"  step {self._step}/{self.steps_per_run} ({fmt_duration(elapsed)}; "
                     f"this {'run' if self._runs == 1 else 'pack'} ends in about "
                     f"{fmt_duration(elapsed / self._step * (self.steps_per_run - self._step))})")

    def finish(self, summary: str) -> None:
        self.runs_done += self._runs
        if self.rich is None and self.enabled:
            elapsed = time.perf_counter() - self._pack_t0
            left = self.total_runs - self.runs_done
            eta = (time.perf_counter() - self.t0) / self.runs_done * left if self.runs_done else math.nan
            tail = f"; {left} left, about {fmt_duration(eta)}" if left else ""
            self.log(f"  done in {fmt_duration(elapsed)}: {summary}{tail}")

    def close(self) -> None:
        if self.rich is not None:
            self.rich.stop()
