"""The public API: ``lint(path, config) -> list[Finding]``; ``load_graph(target)``
(archlint's graph of a file or factory spec) and ``load_module(target)`` (that
graph as a runnable torch module, :mod:`archlint.execute`).

The CLI and the tests call this; nothing here prints.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlint.config import Config
from archlint.errors import ArchlintError, LoadError, UsageError, plain_reason
from archlint.findings import Finding
from archlint.frontends import EXTENSIONS, LoadOptions, is_model_dir, is_torch_spec, is_zip, load_graph, parse_input, parse_shape
from archlint.graph import Graph
from archlint.rules.runner import INTERNAL_CODE, MAX_FINDINGS_PER_RULE, run_rules

__all__ = [
    "INTERNAL_CODE", "MAX_FINDINGS_PER_RULE", "FileResult", "LintResult", "check_graph", "default_jobs",
    "expand_targets", "lint", "load_graph", "load_module", "lint_one", "lint_paths", "parse_input", "parse_shape", "prefetch",
]

#: a graph understood less than this gets a note: the rules are blind to the rest
COVERAGE_NOTE_BELOW = 0.8


def coverage_note(cov: dict) -> str:
    from archlint.view import coverage_text  # the drawing module loads only when a note is written

    return (
        f"only {coverage_text(cov)}: the rules cannot see inside unknown ops, so findings may be "
        "missing (please report the op types)"
    )


@dataclass
class FileResult:
    """One linted target: its findings, or the error that stopped loading it."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[tuple[Finding, str]] = field(default_factory=list)
    error: str | None = None
    format: str | None = None
    nodes: int = 0
    notes: list[str] = field(default_factory=list)  # what the frontend assumed (printed by reporters)
    coverage: dict | None = None  # Graph.coverage(): share of nodes understood, UNKNOWN by op type
    exc: BaseException | None = field(default=None, repr=False)
    details: str | None = field(default=None, repr=False)  # the error's backend details (--verbose)
    args: list[str] = field(default_factory=list)  # a factory spec's --arg values (they name the model)
    view: dict | None = field(default=None, repr=False)  # the graph as plain data (archlint.view), when kept


    @property
    def title(self) -> str:
        """What a report header names: the path or spec, with a factory's ``--arg`` values
        (``timm:create_model --arg resnet18``)."""
        import shlex

        return " ".join([self.path, *(f"--arg {shlex.quote(a)}" for a in self.args)])


@dataclass
class LintResult:
    files: list[FileResult] = field(default_factory=list)
    unused_suppressions: list[str] = field(default_factory=list)
    config_source: str | None = None  # the config file the run used, if any

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.files for f in r.findings]

    @property
    def errors(self) -> list[FileResult]:
        return [r for r in self.files if r.error]


def check_graph(graph: Graph, config: Config | None = None, path: str = "") -> list[Finding]:
    """Run the enabled rules on a graph, each with its options (the rule's
    declared defaults, then the config's). A rule that raises becomes an
    internal finding naming the rule; the other rules still run; each rule
    reports at most :data:`MAX_FINDINGS_PER_RULE` findings per file, then one
    "N more" (:func:`archlint.rules.runner.run_rules`)."""
    config = config or Config()
    enabled = [(r, {**r.options, **config.rule_options.get(r.code, {})}) for r in config.enabled_rules()]
    return run_rules(graph, enabled, path)


def prefetch(targets: list[str]) -> None:
    """Start reading the ONNX files among ``targets`` in the background (a
    speed-up only: loading reads a file itself when its prefetch is missing)."""
    from archlint.frontends.onnx import prefetch as onnx_prefetch

    onnx_prefetch(targets)


def load_module(target: str | Path, options: LoadOptions | None = None) -> Any:
    """The model at ``target`` (a file or a torch factory spec) as a trainable
    ``torch.nn.Module`` run from archlint's graph, with the file's weights:
    ``to_module(load_graph(target, options))`` (see :mod:`archlint.execute`).
    Raises :class:`LoadError` or :class:`archlint.execute.ExecutionError`."""
    from archlint.execute import to_module

    return to_module(load_graph(str(target), options))


def lint(path: str | Path, config: Config | None = None) -> list[Finding]:
    """Load one model and return its findings (suppressions applied).

    Raises :class:`archlint.errors.LoadError` when the model cannot be read."""
    config = config or Config()
    graph = load_graph(str(path), config.load)
    findings = check_graph(graph, config, str(path))
    return [f for f in findings if not config.is_suppressed(f)]


def expand_targets(targets: Iterable[str]) -> Iterator[tuple[str, str | None, bool]]:
    """Yield ``(target, error, typed)``: folders are searched for model files.

    ``typed`` is true for a target the user gave; only those may be factory
    specs. A file found by walking a folder is always read as a file."""
    for t in targets:
        if is_torch_spec(t):
            yield t, None, True
            continue
        p = Path(t)
        if not os.path.lexists(p):
            yield t, "no such file or folder", True
        elif p.is_dir() and not is_model_dir(p):
            found = sorted(_walk_models(p))
            if not found:
                yield t, f"no model files found in folder (looked for {', '.join(sorted(EXTENSIONS))} and SavedModel folders)", True
            for f in found:
                yield f, None, False
        else:
            yield t, None, True


def _walk_models(root: Path) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if (d / "saved_model.pb").is_file():
            dirnames[:] = []
            yield str(d)
            continue
        dirnames[:] = sorted(x for x in dirnames if not x.startswith("."))
        for name in filenames:
            ext = Path(name).suffix.lower()
            if ext == ".ts" and not is_zip(d / name):  # TypeScript, not TorchScript
                continue
            if ext in EXTENSIONS:
                yield str(d / name)


def lint_paths(
    targets: Iterable[str],
    config: Config | None = None,
    *,
    keep_views: bool = False,
    jobs: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
    config_for: Callable[[str], Config] | None = None,
) -> LintResult:
    """Lint many targets; a target that fails to load is recorded, not raised.

    ``keep_views`` keeps each graph as plain data on ``FileResult.view`` (for
    the HTML and Netron outputs). ``jobs`` > 1 lints files in that many
    processes; the result (order, findings, errors) is the same as a serial
    run. ``progress(done, total, path)`` is called after each file.
    ``config_for(path)`` gives each file its own config (the nearest config
    file, :class:`archlint.config.PerFileConfig`); ``config`` is the run's."""
    config = config or Config()
    config.enabled_rules()  # unknown codes are a usage error before any work
    result = LintResult()
    items = list(expand_targets(targets))
    configs: list[Config] = [config]
    index: dict[int, int] = {id(config): 0}
    work: list[tuple[str, bool, int]] = []
    for t, err, typed in items:
        if err:
            continue
        c = config_for(t) if config_for else config
        if id(c) not in index:
            index[id(c)] = len(configs)
            configs.append(c)
        work.append((t, typed, index[id(c)]))
    if jobs > 1 and len(work) >= PARALLEL_MIN_FILES:
        outcomes = _lint_parallel(work, configs, keep_views, jobs, progress)
    else:
        outcomes = _lint_serial(work, configs, keep_views, progress)
    used: list[set[tuple[str, str]]] = [set() for _ in configs]
    k = 0
    for target, error, _typed in items:
        if error:
            result.files.append(FileResult(path=target, error=error))
            continue
        fr, fr_used = outcomes[k]
        used[work[k][2]] |= fr_used
        k += 1
        result.files.append(fr)
    # an entry's code that silenced nothing is reported (each code of each entry on its own);
    # a sub-folder's config file is named with its entries
    for i, c in enumerate(configs):
        where = f" (in {c.source})" if i and c.source else ""
        result.unused_suppressions += [f"{e} {code}{where}" for e, code in c.declared_suppressions() if (e, code) not in used[i]]
    result.config_source = config.source
    return result


#: fewer files than this are linted in-process whatever ``jobs`` says: starting
#: worker processes (each imports archlint and onnx) costs more than they save
PARALLEL_MIN_FILES = 8


def default_jobs() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _lint_serial(work, configs, keep_views, progress) -> list[tuple[FileResult, set[tuple[str, str]]]]:
    out = []
    for i, (target, typed, c) in enumerate(work):
        out.append(lint_one(target, configs[c], keep_views, spec_allowed=typed))
        if progress:
            progress(i + 1, len(work), target)
    return out


def _lint_parallel(work, configs, keep_views, jobs, progress) -> list[tuple[FileResult, set[tuple[str, str]]]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # fork (workers start in milliseconds, archlint already imported) while
    # this process runs no other thread and has loaded no framework with
    # thread pools; else forkserver: workers fork from a fresh server that
    # imported archlint once. Each batch carries the config once.
    import threading

    frameworks = {"torch", "tensorflow", "jax"} & set(sys.modules)
    methods = multiprocessing.get_all_start_methods()
    if threading.active_count() == 1 and not frameworks and "fork" in methods:
        ctx = multiprocessing.get_context("fork")
    elif "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["archlint.api", "archlint.frontends.onnx", "archlint.frontends.keras"])
    else:  # Windows
        ctx = multiprocessing.get_context("spawn")
    workers = min(jobs, len(work))
    size = max(1, min(16, len(work) // (workers * 4)))
    batches = [list(range(i, min(i + size, len(work)))) for i in range(0, len(work), size)]
    from concurrent.futures.process import BrokenProcessPool

    out: list[tuple[FileResult, set[tuple[str, str]]] | None] = [None] * len(work)
    done = 0
    retry: list[int] = []  # files of batches whose worker died (a file killed it, or the pool broke after)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_lint_batch, [work[i] for i in b], configs, keep_views): b for b in batches}
        for fut in as_completed(futures):
            batch = futures[fut]
            try:
                results = fut.result()
            except UsageError:
                raise
            except BrokenProcessPool:
                retry += batch
                continue
            except Exception as e:  # noqa: BLE001 - a worker that failed must not stop the run
                why = f"could not read the model (worker failed: {type(e).__name__}: {e})"
                results = [(FileResult(path=work[i][0], error=why), set()) for i in batch]
            for i, res in zip(batch, results):
                out[i] = res
                done += 1
                if progress:
                    progress(done, len(work), work[i][0])
    # every file that was in flight or queued when a worker died is linted again, one at a time in a
    # fresh worker: the files that kill it again are the ones reported, the others get their findings
    for i, res in _lint_alone(sorted(retry), work, configs, keep_views, ctx):
        out[i] = res
        done += 1
        if progress:
            progress(done, len(work), work[i][0])
    return [o for o in out if o is not None]


def _lint_alone(indices, work, configs, keep_views, ctx):
    """(index, result) for each file, linted one at a time in a single fresh worker process; a new
    worker after each one that dies (that file is reported as its killer)."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    pending = list(indices)
    while pending:
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            while pending:
                i = pending.pop(0)
                try:
                    yield i, pool.submit(_lint_batch, [work[i]], configs, keep_views).result()[0]
                except UsageError:
                    raise
                except BrokenProcessPool:
                    why = ("the worker process reading it died (a crash in native code, or killed: out of memory?); "
                           "not linted")
                    yield i, (FileResult(path=work[i][0], error=why), set())
                    break  # a fresh worker for the rest
                except Exception as e:  # noqa: BLE001
                    why = f"could not read the model (worker failed: {type(e).__name__}: {e})"
                    yield i, (FileResult(path=work[i][0], error=why), set())


def _lint_batch(items: list[tuple[str, bool, int]], configs: list[Config], keep_views: bool) -> list[tuple[FileResult, set[tuple[str, str]]]]:
    """Lint files in a worker process (each item names its config by index)."""
    out = []
    for target, typed, c in items:
        fr, used = lint_one(target, configs[c], keep_views, spec_allowed=typed)
        if fr.exc is not None:  # exceptions may not pickle; the traceback text travels instead
            import traceback

            fr.exc = RemoteError("".join(traceback.format_exception(fr.exc)))
        out.append((fr, used))
    return out


class RemoteError(Exception):
    """An exception raised in a ``--jobs`` worker, carried back as its traceback text."""


_OUT_OF_MEMORY = "needs more memory than there is to check: not linted"


class FileTimeout(BaseException):
    """Raised by the per-file time budget's alarm; a BaseException so that the
    frontends' and rules' ``except Exception`` cannot swallow it."""


def lint_one(
    target: str, config: Config, keep_views: bool = False, *, spec_allowed: bool = True
) -> tuple[FileResult, set[tuple[str, str]]]:
    """Load and lint one target: its result and the suppressions it used.

    ``spec_allowed=False`` for files found by walking a folder: never a factory
    spec. Loading and checking share a time budget (``config.load.time_budget``
    seconds, in the main thread): a file that takes longer is an error line,
    and the run goes on."""
    fr = FileResult(path=target)
    used: set[tuple[str, str]] = set()
    # a factory spec is the user's own code (torch.export may take minutes): no budget
    budget = None if spec_allowed and is_torch_spec(target) else getattr(config.load, "time_budget", None)
    import signal
    import threading

    if not budget or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        try:
            return _lint_one(target, config, keep_views, spec_allowed, fr, used)
        except MemoryError:
            return FileResult(path=target, error=_OUT_OF_MEMORY), set()

    def _alarm(signum: int, frame: object) -> None:
        raise FileTimeout

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        return _lint_one(target, config, keep_views, spec_allowed, fr, used)
    except FileTimeout:
        return FileResult(path=target, error=f"did not finish in {budget:g} s (the per-file time budget): not linted"), set()
    except MemoryError:  # loading is caught in _lint_one; this is the rules or the view
        return FileResult(path=target, error=_OUT_OF_MEMORY), set()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _lint_one(
    target: str, config: Config, keep_views: bool, spec_allowed: bool, fr: FileResult, used: set[tuple[str, str]]
) -> tuple[FileResult, set[tuple[str, str]]]:
    try:
        graph = load_graph(target, config.load, spec_allowed=spec_allowed)
    except LoadError as e:
        fr.error = e.problem
        fr.details = e.details
        fr.exc = e.__cause__ if isinstance(e.__cause__, Exception) else None  # the model's own error, for -v
        return fr, used
    except UsageError:
        raise
    except ArchlintError as e:
        fr.error = str(e)
        return fr, used
    except RecursionError:
        fr.error = "model too deeply nested to read"
        return fr, used
    except MemoryError:
        fr.error = "model too large to read in memory"
        return fr, used
    except Exception as e:  # noqa: BLE001 - one bad file must not stop the run
        fr.error = f"could not read the model: {plain_reason(e)} (--verbose shows where)"
        fr.exc = e
        return fr, used
    return result_for_graph(graph, target, config, keep_views, fr, used)


def result_for_graph(
    graph: Graph, target: str, config: Config, keep_views: bool, fr: FileResult, used: set[tuple[str, str]] | None = None
) -> tuple[FileResult, set[tuple[str, str]]]:
    """Fill ``fr`` from a loaded graph: coverage, notes, the view when kept, and the
    findings with suppressions applied (those used are added to ``used``)."""
    used = set() if used is None else used
    fr.format = graph.format
    fr.args = [str(a) for a in graph.meta.get("spec_args", [])]
    fr.nodes = len(graph)
    notes = graph.meta.get("notes", [])
    fr.notes = [str(x) for x in notes] if isinstance(notes, list) else []
    fr.coverage = graph.coverage()
    if fr.coverage["nodes"] and (
        fr.coverage["share"] < COVERAGE_NOTE_BELOW or fr.coverage.get("params", {}).get("share", 1.0) < COVERAGE_NOTE_BELOW
    ):
        fr.notes.append(coverage_note(fr.coverage))
    if keep_views:
        from archlint.view import graph_view

        fr.view = graph_view(graph)
    for f in check_graph(graph, config, target):
        matched = config.matching_suppressions(f)
        if matched:
            fr.suppressed.append((f, matched[0][0]))
            used.update(matched)
        else:
            fr.findings.append(f)
    return fr, used
