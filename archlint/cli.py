"""The command line: a thin typer app over :mod:`archlint.api`.

Exit codes: 0 nothing at or above the fail level, 1 findings at or above it,
2 usage or load errors.
"""


import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer

from archlint.version import __version__
from archlint.errors import ArchlintError

app = typer.Typer(
    name="archlint",
    help="Lint neural-network architectures (ONNX, Keras, PyTorch) for known mistakes.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

# the options `check` and `show` share, defined once
SelectOpt = Annotated[Optional[str], typer.Option(help="Comma-separated rule codes, prefixes or names to run.")]
IgnoreOpt = Annotated[Optional[str], typer.Option(help="Comma-separated rule codes, prefixes or names to skip.")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="A pyproject.toml or archlint.toml to read settings from.")]
TrustOpt = Annotated[bool, typer.Option("--trust", help="Allow running code from model files (pickled modules).")]
InputShapeOpt = Annotated[Optional[str], typer.Option("--input-shape", help="Input shape for PyTorch modules, e.g. 1x3x224x224.")]
InputOpt = Annotated[Optional[list[str]], typer.Option("--input", help="Example input for a PyTorch module (repeatable): [NAME=]SHAPE[:DTYPE], e.g. input_ids=2x16:int64; DTYPE float32, float16, bfloat16, int64, int32 or bool.")]
ArgOpt = Annotated[Optional[list[str]], typer.Option("--arg", help="Argument for a PyTorch factory (repeatable): value or name=value.")]


def _err(msg: str, prefix: str = "archlint: error: ") -> None:
    """One error (or, with another ``prefix``, note) line on stderr; ``msg`` may hold names
    from a hostile file: escaped."""
    from archlint.reporters.escape import safe_text

    sys.stderr.write(f"{prefix}{safe_text(msg)}\n")


def _fail(msg: str, verbose: bool) -> NoReturn:
    """One error line (the traceback too under --verbose), then exit 2."""
    _err(msg)
    if verbose:
        _print_traceback()
    raise typer.Exit(EXIT_ERROR) from None


def _print_traceback(exc: BaseException | None = None) -> None:
    """A traceback for --verbose, each line escaped (exception text can quote a model)."""
    from archlint.reporters.escape import safe_lines

    text = "".join(traceback.format_exception(exc) if exc is not None else traceback.format_exc())
    sys.stderr.write(safe_lines(text.rstrip("\n")) + "\n")


def _version(value: bool) -> None:
    if value:
        print(f"archlint {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = None,
) -> None:
    """archlint: find architecture mistakes in neural networks."""


def _load_options(conf, trust: bool, input_shape: str | None, inputs: list[str] | None, args: list[str] | None) -> None:
    """The loading options both commands take, onto ``conf.load``."""
    from archlint.api import parse_input, parse_shape

    conf.load.trust = trust
    conf.load.input_shape = parse_shape(input_shape) if input_shape else None
    conf.load.inputs = [parse_input(t) for t in inputs or []]
    conf.load.args = list(args or [])


@app.command()
def check(
    paths: Annotated[list[str], typer.Argument(help="Model files, folders, or PyTorch specs pkg.mod:factory / file.py:Net.")],
    *,
    format: Annotated[str, typer.Option("--format", "-f", help="Output: text, json, sarif, github, html (a page with the graph; use -o), netron (a Netron attachment), onnx-annotated (a copy of an ONNX model with the findings in its nodes, for Netron; -o OUT.onnx) or model-explorer (node data for Google's Model Explorer).")] = "text",
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    fail_on: Annotated[Optional[str], typer.Option("--fail-on", help="Lowest severity that fails: info, warning, error.")] = None,
    config: ConfigOpt = None,
    trust: TrustOpt = False,
    input_shape: InputShapeOpt = None,
    input: InputOpt = None,
    arg: ArgOpt = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report to a file.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show clean files, suppressions and tracebacks.")] = False,
    trust_locations: Annotated[bool, typer.Option("--trust-locations", help="Let github/SARIF annotations point at source files named in model metadata (when they exist here).")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to read and check one model file before it counts as an error (0: no limit).")] = 60.0,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Lint files in this many processes (default: the CPU count; 1: in this process).")] = None,
    baseline: Annotated[Optional[Path], typer.Option("--baseline", help="Findings in this baseline file are known: left out, never failing the run.")] = None,
    write_baseline: Annotated[Optional[Path], typer.Option("--write-baseline", help="Write today's findings to this file as the baseline, and exit 0.")] = None,
    statistics: Annotated[bool, typer.Option("--statistics", help="Print the number of findings per rule instead of the findings.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print what 'archlint fix' would change (layers removed, added, moved; parameters before/after) without writing; exit 1 when it would change something.")] = False,
) -> None:
    """Lint model files and exit 0 (clean), 1 (findings) or 2 (errors)."""
    from archlint import config as cfg
    from archlint.api import lint_paths
    from archlint.reporters import FORMATS, get_reporter

    if diff:
        _diff(paths, select=select, ignore=ignore, config=config, verbose=verbose)

    try:
        conf = cfg.resolve_config(config, paths)
        select_codes = cfg.parse_codes(select) if select is not None else None
        ignore_codes = cfg.parse_codes(ignore) or [] if ignore is not None else []

        def adjust(c: cfg.Config) -> None:  # the command line's options, over any config file's
            if select is not None:
                c.select = select_codes
            c.ignore = [*c.ignore, *ignore_codes]

        adjust(conf)
        if fail_on is not None:
            conf.fail_on = cfg.parse_severity(fail_on)
        # without --config, each file uses the config nearest to it (a sub-folder's narrows only its files)
        config_for = None if config is not None else cfg.PerFileConfig(conf, adjust)
        _load_options(conf, trust, input_shape, input, arg)
        if timeout < 0:
            raise ArchlintError(f"--timeout {timeout:g}: give 0 (no limit) or more seconds")
        conf.load.time_budget = timeout or None
        reporter = get_reporter(format.lower())
        if reporter is None:
            raise ArchlintError(f"unknown --format {format!r} (use {', '.join(FORMATS)})")
        if reporter.binary and output is None:
            raise ArchlintError(f"--format {reporter.name} writes a model file: give -o FILE")
        n_jobs = _jobs(jobs)

        with _Progress(sys.stderr) as progress:
            # the format says what it needs (each graph as plain data to draw), not which format it is
            result = lint_paths(paths, conf, keep_views=reporter.draws_graph, jobs=n_jobs, progress=progress,
                                config_for=config_for)
        refused = reporter.refuse(result)
        if refused:
            raise ArchlintError(refused)
        from archlint import adoption

        result.unused_suppressions += [f"inline {u}" for u in adoption.apply_inline_ignores(result, trust_locations)]
        if baseline is not None:
            known, stale = adoption.apply_baseline(result, adoption.read_baseline(baseline))
            if known or stale:
                _err(f"{known} finding{'s' if known != 1 else ''} known from {baseline} left out"
                     + (f"; {stale} of its entries matched nothing (fixed? rewrite it with --write-baseline)" if stale else ""),
                     prefix="archlint: ")
    except ArchlintError as e:
        _fail(str(e), verbose)

    # names from hostile files may hold lone surrogates: escape, never crash on output
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    for r in result.errors:
        _err(f"{r.path}: {r.error}")
        if verbose and r.details:
            for ln in r.details.splitlines():
                _err(ln, prefix="  backend error: ")
        if verbose and r.exc is not None:
            _print_traceback(r.exc)
    if reporter.one_model and all(r.error for r in result.files):
        raise typer.Exit(EXIT_ERROR)  # nothing was read: the errors above say why
    if write_baseline is not None:
        from archlint.adoption import write_baseline as write

        try:
            n = write(result, write_baseline)
        except OSError as e:
            _err(f"cannot write the baseline {write_baseline}: {e.strerror or e}")
            raise typer.Exit(EXIT_ERROR) from None
        _err(f"wrote {n} finding{'s' if n != 1 else ''} to the baseline {write_baseline}", prefix="archlint: ")
        raise typer.Exit(EXIT_ERROR if result.errors else EXIT_OK)
    if statistics:
        from archlint.adoption import statistics as stats
        from archlint.reporters.escape import safe_text

        for n, code, name, sev in stats(result):
            print(f"{n:>6}  {code}  {safe_text(name)}  [{sev}]")
        sys.stdout.flush()
    else:
        _report(reporter, result, output, verbose, trust_locations, conf.load.time_budget, format)
    if result.errors:
        raise typer.Exit(EXIT_ERROR)
    if any(f.severity >= conf.fail_on for f in result.findings):
        raise typer.Exit(EXIT_FINDINGS)
    raise typer.Exit(EXIT_OK)


def _report(reporter: Any, result: Any, output: Path | None, verbose: bool, trust_locations: bool,
            budget: float | None, fmt: str) -> None:
    from archlint.reporters import ReportOptions

    try:  # report drawing counts against --timeout too (per file): budget
        if output and reporter.binary:
            with open(output, "wb") as bfh:
                reporter.emit(result, bfh, ReportOptions(verbose=verbose, color=False, trust_locations=trust_locations,
                                                           time_budget=budget))
        elif output:
            with open(output, "w", encoding="utf-8", errors="backslashreplace") as fh:
                reporter.emit(result, fh, ReportOptions(verbose=verbose, color=False, trust_locations=trust_locations,
                                                          time_budget=budget))
        else:
            reporter.emit(result, sys.stdout, ReportOptions(verbose=verbose, trust_locations=trust_locations,
                                                          time_budget=budget))
            sys.stdout.flush()
    except BrokenPipeError:  # `archlint check ... | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as e:
        _err(f"cannot write report to {output or 'standard output'}: {e.strerror or e}")
        raise typer.Exit(EXIT_ERROR) from None
    except (MemoryError, RecursionError):
        _err(f"cannot write the {fmt} report: it needs more memory than there is")
        raise typer.Exit(EXIT_ERROR) from None


def _fix_config(config: Optional[Path], paths: list[str], select: Optional[str], ignore: Optional[str]):
    from archlint import config as cfg

    conf = cfg.resolve_config(config, paths)
    if select is not None:
        conf.select = cfg.parse_codes(select)
    if ignore is not None:
        conf.ignore = [*conf.ignore, *(cfg.parse_codes(ignore) or [])]
    conf.enabled_rules()  # unknown codes: a usage error before any work
    return conf


def _diff(paths: list[str], *, select: Optional[str], ignore: Optional[str], config: Optional[Path], verbose: bool) -> None:
    """``check --diff``: each file's rewrites, nothing written; exit 1 when any would apply."""
    from archlint.api import expand_targets
    from archlint.fixes import diff_text, fix_model

    try:
        conf = _fix_config(config, paths, select, ignore)
    except ArchlintError as e:
        _err(str(e))
        raise typer.Exit(EXIT_ERROR) from None
    changed = errors = False
    for target, error, _typed in expand_targets(paths):
        if error:
            _err(f"{target}: {error}")
            errors = True
            continue
        try:
            out = fix_model(target, conf)
        except ArchlintError as e:
            _err(str(e))
            if verbose:
                _print_traceback()
            errors = True
            continue
        changed |= bool(out.applied)
        print(diff_text(out))
    raise typer.Exit(EXIT_ERROR if errors else EXIT_FINDINGS if changed else EXIT_OK)


@app.command()
def fix(
    model: Annotated[str, typer.Argument(help="An .onnx, .keras or .h5 model file, or a PyTorch spec pkg.mod:factory / file.py:Net (exported to ONNX in training mode).")],
    *,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the fixed model (.onnx for ONNX and PyTorch input; .keras or .h5, as the input, for Keras).")],
    input: Annotated[Optional[list[str]], typer.Option("--input", help="Example input for a PyTorch module (repeatable): [NAME=]SHAPE[:DTYPE].")] = None,
    arg: Annotated[Optional[list[str]], typer.Option("--arg", help="Argument for a PyTorch factory (repeatable): value or name=value.")] = None,
    select: Annotated[Optional[str], typer.Option(help="Comma-separated rule codes or prefixes whose findings to fix.")] = None,
    ignore: Annotated[Optional[str], typer.Option(help="Comma-separated rule codes or prefixes to leave alone.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="A pyproject.toml or archlint.toml to read settings from.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    """Apply the rewrites the rules declare and write the fixed model; print what
    changed. Exits 0 when the fixed model has no finding at or above the fail
    level, 1 when some remain, 2 on errors."""
    from archlint.fixes import diff_text, fix_model

    try:
        conf = _fix_config(config, [model], select, ignore)
        _load_options(conf, False, None, input, arg)
        if Path(output).resolve() == Path(model).resolve():
            raise ArchlintError(f"{output}: give an output path other than the input")
        out = fix_model(model, conf)
        written = out.save(output)
    except ArchlintError as e:
        _fail(str(e), verbose)
    except OSError as e:
        _err(f"cannot write {output}: {e.strerror or e}")
        raise typer.Exit(EXIT_ERROR) from None
    print(diff_text(out))
    print("wrote " + ", ".join(written))
    raise typer.Exit(EXIT_FINDINGS if any(f.severity >= conf.fail_on for f in out.after) else EXIT_OK)


def _jobs(jobs: int | None) -> int:
    from archlint.api import default_jobs

    if jobs is None:
        return default_jobs()
    if jobs < 1:
        raise ArchlintError(f"--jobs {jobs}: give 1 or more processes")
    return jobs


class _Progress:
    """``[12/200] path`` on one line of a terminal's stderr while many files
    are linted; nothing off a terminal or for a few files."""

    MIN_FILES = 5

    def __init__(self, stream) -> None:
        isatty = getattr(stream, "isatty", None)
        self.stream = stream if isatty and isatty() else None
        self.shown = False

    def __call__(self, done: int, total: int, path: str) -> None:
        if self.stream is None or total < self.MIN_FILES:
            return
        width = 30
        bar = "#" * (width * done // total) + "-" * (width - width * done // total)
        from archlint.reporters.escape import safe_text

        tail = path if len(path) <= 40 else "..." + path[-37:]
        tail = safe_text(tail)
        self.stream.write(f"\r\x1b[2K[{bar}] {done}/{total} {tail}")
        self.stream.flush()
        self.shown = True

    def __enter__(self) -> "_Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


@app.command()
def view(
    model: Annotated[str, typer.Argument(help="An ONNX model file.")],
    *,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Where to write the annotated copy (default: a temporary folder; beside the model when its weights are external data).")] = None,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    config: ConfigOpt = None,
    host: Annotated[str, typer.Option(help="Address Netron's server listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port of Netron's server (0: a free one).")] = 0,
    browser: Annotated[bool, typer.Option("--browser/--no-browser", help="Open the page in a web browser.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    r"""Open an ONNX model in Netron with archlint's findings written into it (needs archlint\[view]).

    Each flagged node's description and metadata hold its findings, and its name ends in
    "\[archlint CODE]": Netron's Find (Ctrl+F) lists the flagged nodes by "archlint" or by a code.
    """
    from archlint.api import lint_paths
    from archlint.reporters import ReportOptions
    from archlint.reporters.onnx_annotated_reporter import OnnxAnnotatedReporter

    try:
        import netron
    except ImportError:
        _err("archlint view needs Netron: pip install 'archlint[view]'")
        raise typer.Exit(EXIT_ERROR) from None
    reporter = OnnxAnnotatedReporter()
    try:
        conf = _one_model_config(config, model, select, ignore)
        result = lint_paths([model], conf, keep_views=True, jobs=1)
        for r in result.errors:
            _err(f"{r.path}: {r.error}")
        if result.errors or not result.files:
            raise typer.Exit(EXIT_ERROR)
        refused = reporter.refuse(result)
        if refused:
            raise ArchlintError(refused)
        out = output
        if out is None:
            import tempfile

            stem = Path(model).stem
            out = (Path(model).with_name(f"{stem}.archlint.onnx") if _has_external_data(model)
                   else Path(tempfile.mkdtemp(prefix="archlint-view-")) / f"{stem}.archlint.onnx")
        with open(out, "wb") as fh:
            reporter.emit(result, fh, ReportOptions())
    except ArchlintError as e:
        _fail(str(e), verbose)
    except OSError as e:
        _err(f"cannot write the annotated copy: {e.strerror or e}")
        raise typer.Exit(EXIT_ERROR) from None
    found = result.files[0].findings
    nodes = len({f.node for f in found if f.node})
    _err(f"{len(found)} finding{'s' if len(found) != 1 else ''} on {nodes} node{'s' if nodes != 1 else ''} written into "
         f"{out}; in Netron, Find (Ctrl+F) 'archlint' or a code lists them", prefix="archlint: ")
    try:
        addr = netron.start(str(out), address=(host, port), browse=browser)
    except OSError as e:
        _err(f"cannot start Netron's server on {host}:{port}: {e.strerror or e}")
        raise typer.Exit(EXIT_ERROR) from None
    print(f"serving {out} at http://{addr[0]}:{addr[1]} (Ctrl+C stops)", flush=True)
    netron.wait()


def _one_model_config(config: Path | None, model: str, select: str | None, ignore: str | None) -> Any:
    """The config for one model (``show``, ``view``): the file's, with the command line's --select/--ignore."""
    from archlint import config as cfg

    conf = cfg.resolve_config(config, [model])
    if select is not None:
        conf.select = cfg.parse_codes(select)
    if ignore is not None:
        conf.ignore = [*conf.ignore, *(cfg.parse_codes(ignore) or [])]
    return conf


def _has_external_data(path: str) -> bool:
    """Whether an ONNX file keeps weights outside itself (the copy must sit beside it to find them)."""
    import onnx

    try:
        m = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001 - the lint above already read it; any doubt: no
        return False
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)


@app.command()
def show(
    model: Annotated[str, typer.Argument(help="A model file or PyTorch spec pkg.mod:factory / file.py:Net.")],
    *,
    format: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    config: ConfigOpt = None,
    trust: TrustOpt = False,
    input_shape: InputShapeOpt = None,
    input: InputOpt = None,
    arg: ArgOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
    depth: Annotated[int, typer.Option("--depth", help="Fold layers nested deeper than N scopes into their scope (1: top-level modules; 0: every layer).")] = 0,
) -> None:
    """Print a model's layers like torchinfo / Keras summary(): kind, output
    shape, parameters, MACs and findings per layer, then the totals (parameters,
    MACs/FLOPs, activation memory). Exits 0 when
    the model was read (findings do not fail it), 2 when it could not be."""
    from archlint.api import lint_paths

    try:
        conf = _one_model_config(config, model, select, ignore)
        _load_options(conf, trust, input_shape, input, arg)
        fmt = format.lower()
        if fmt not in ("text", "json"):
            raise ArchlintError(f"unknown --format {format!r} (use text or json)")
        result = lint_paths([model], conf, keep_views=True, jobs=1)
    except ArchlintError as e:
        _fail(str(e), verbose)
    for r in result.errors:
        _err(f"{r.path}: {r.error}")
        if verbose and r.details:
            for ln in r.details.splitlines():
                _err(ln, prefix="  backend error: ")
        if verbose and r.exc is not None:
            _print_traceback(r.exc)
    if result.errors or not result.files or result.files[0].view is None:
        raise typer.Exit(EXIT_ERROR)
    if len(result.files) > 1:
        _err(f"{model}: show takes one model; this folder holds {len(result.files)} (use 'archlint check' for several)")
        raise typer.Exit(EXIT_ERROR)
    from archlint.summary import print_summary, summary_dict

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    r = result.files[0]
    if fmt == "json":
        import json

        json.dump(summary_dict(r, depth), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_summary(r, sys.stdout, depth)
    raise typer.Exit(EXIT_OK)


@app.command()
def rules(
    *,
    format: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
) -> None:
    """List every rule: code, name, severity and summary."""
    from archlint.rules import ALL_RULES

    if format == "json":
        import json

        json.dump(
            [
                {
                    "code": r.code,
                    "name": r.name,
                    "severity": r.severity.label,
                    "summary": r.summary,
                    "opt_in": r.opt_in,
                    "references": [x.label for x in r.references],
                    "aliases": list(r.aliases),
                    "options": {k: (sorted(v) if isinstance(v, (set, frozenset)) else v) for k, v in r.options.items()},
                }
                for r in ALL_RULES
            ],
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("code", "name", "severity", "summary"):
        table.add_column(col)
    for r in ALL_RULES:
        table.add_row(r.code, r.name + (" (opt-in)" if r.opt_in else ""), r.severity.label, r.summary)
    Console(highlight=False).print(table)


@app.command()
def explain(code: Annotated[str, typer.Argument(help="A rule code (AL001) or name (dropout-between-conv).")]) -> None:
    """Print a rule's documentation."""
    from archlint.docs import render_rule
    from archlint.rules import get_rule

    rule = get_rule(code)
    if rule is None:
        _err(f"unknown rule {code!r} (see 'archlint rules')")
        raise typer.Exit(EXIT_ERROR)
    sys.stdout.write(render_rule(rule))


def _register_validate() -> None:
    """``archlint validate`` is the evidence runner of the ``archlint_validation``
    package (the top-level ``validation/`` folder, shipped in the same
    distribution; torch is imported only when it runs)."""
    try:
        from archlint_validation.cli import validate
    except ImportError:
        # an editable install made before the folder was mapped to archlint_validation
        @app.command("validate", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
        def validate_unavailable() -> None:
            """Rerun the evidence experiments (not installed: reinstall archlint)."""
            _err("validate: the archlint_validation package is not installed; reinstall archlint "
                 "(pip install -e . in a checkout)")
            raise typer.Exit(EXIT_ERROR)

        return
    app.command("validate")(validate)


_register_validate()


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "check":
        # read .onnx files while the rest of archlint and onnx are imported
        from archlint.api import prefetch

        prefetch([a for a in sys.argv[2:] if not a.startswith("-")])
    app()


if __name__ == "__main__":
    main()
