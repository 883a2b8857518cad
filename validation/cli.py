"""``archlint validate``: rerun the evidence behind archlint's rules, with seeds and intervals.

The linter's CLI registers :func:`validate` as a typer command; ``python -m archlint_validation`` runs it
alone.
"""


import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import ValidationError

QUICK = {"steps": 2, "epochs": 2, "seeds": 2, "batch_size": 8, "limit": 200, "test_limit": 50, "val_size": 20}


class DatasetName(str, Enum):
    cifar100 = "cifar100"
    cifar10 = "cifar10"
    imagefolder = "imagefolder"
    synthetic = "synthetic"


class ProtocolName(str, Enum):
    faithful = "faithful"
    modern = "modern"
    both = "both"


class TrainerName(str, Enum):
    auto = "auto"
    classic = "classic"
    fast = "fast"


class PrecisionName(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"


class ExecutorName(str, Enum):
    local = "local"
    ray = "ray"


class PlacementName(str, Enum):
    before = "before"
    after = "after"
    pool = "pool"


def _err(msg: str) -> None:
    sys.stderr.write(f"archlint: error: {msg}\n")
    sys.stderr.flush()


def validate(
    model: Annotated[Optional[str], typer.Argument(help="A model file (.keras, .h5, .onnx ...): train it as read and with each finding's fix, paired by seed. Without it, the seed experiment's grid runs.")] = None,
    *,
    rule: Annotated[Optional[list[str]], typer.Option("--rule", "-r", help="Grid: run only the experiments backing these rule codes (AL001, AL002, AL003). MODEL: test only these findings' fixes. Repeatable.")] = None,
    dataset: Annotated[Optional[DatasetName], typer.Option(help="Dataset kind; detected from --data when omitted.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Dataset tarball or folder (default: $ARCHLINT_DATA).")] = None,
    protocol: Annotated[ProtocolName, typer.Option(help="faithful (2018 preprocessing), modern (scaled + per-channel normalised) or both.")] = ProtocolName.faithful,
    primary_only: Annotated[bool, typer.Option("--primary-only", help="Train only the runs of the pre-registered primary comparisons.")] = False,
    placement: Annotated[Optional[list[PlacementName]], typer.Option(help="Restrict the placements of the variant grid; repeatable.")] = None,
    seeds: Annotated[Optional[int], typer.Option(min=1, help="Seeds per configuration (default 3).")] = None,
    steps: Annotated[Optional[int], typer.Option(min=1, help="Steps per epoch (default 1000). MODEL: steps per run (default: as many as fit 10 minutes on a CPU, at most 300; 300 on a GPU).")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Epochs (default 10).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Batch size (default 80, as the original).")] = None,
    limit: Annotated[Optional[int], typer.Option(min=10, help="Use only this many training images (balanced for image folders).")] = None,
    test_limit: Annotated[Optional[int], typer.Option(min=10, help="Use only this many test images.")] = None,
    val_size: Annotated[Optional[int], typer.Option(min=1, help="Images held out of the training set for validation (default 5000, or a tenth of a smaller training set).")] = None,
    quick: Annotated[bool, typer.Option(help="Tiny smoke-test sizes (CI): few steps, 2 seeds, small subsets; without --data, --dataset or $ARCHLINT_DATA it trains on synthetic data.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    out: Annotated[Path, typer.Option(help="Output folder (run files, results.json/.md, plots).")] = Path("archlint-validate"),
    packed: Annotated[bool, typer.Option("--packed/--no-packed", help="Train several runs as one packed module.")] = True,
    pack_size: Annotated[Optional[int], typer.Option(min=1, help="Runs per pack (default on cuda: 48 with the fast trainer, 16 with the classic; 1 on cpu).")] = None,
    compile: Annotated[bool, typer.Option("--compile/--no-compile", help="torch.compile: the fast trainer's forward (fullgraph), the classic packed step (cuda only).")] = False,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Check the md5 of official CIFAR tarballs.")] = True,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Where decoded image-folder arrays are cached, keyed by the file's sha256 (default: $ARCHLINT_CACHE_DIR or the user cache dir, shared by every --out).")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots (needs matplotlib).")] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress (a bar on a terminal, plain lines otherwise).")] = True,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Start a CPU job projected to take more than an hour.")] = False,
    trainer: Annotated[TrainerName, typer.Option(help="fast: every run in one union pack, counter-based dropout, CUDA graphs; classic: the packed trainer; auto: fast on cuda, classic on cpu.")] = TrainerName.auto,
    precision: Annotated[PrecisionName, typer.Option(help="fast trainer: fp32, or bf16 autocast with fp32 master weights.")] = PrecisionName.fp32,
    executor: Annotated[ExecutorName, typer.Option(help="local (this process) or ray (packs as Ray tasks; with MODEL, one task per run; needs archlint\\[ray]).")] = ExecutorName.local,
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster to join ('auto' or host:port; its own security applies, see docs/security.md); default: start a local Ray instance bound to 127.0.0.1 with token auth.")] = None,
    ray_gpus_per_pack: Annotated[Optional[float], typer.Option(min=0.0, help="GPUs per Ray task (default 1 when the cluster has GPUs).")] = None,
    ray_cpus_per_pack: Annotated[float, typer.Option(min=0.0, help="CPUs per Ray task.")] = 1.0,
) -> None:
    """Rerun the evidence experiment behind archlint's rules, with seeds and confidence intervals."""
    try:
        from .runner import Options, run
        import scipy  # noqa: F401 - the statistics
        import torch  # noqa: F401 - the experiments are PyTorch
    except ImportError as e:
        _err(f"validate needs PyTorch, numpy and scipy ({e.name} is missing): pip install 'archlint[validate]'")
        raise typer.Exit(code=2) from None

    if model is not None:
        _validate_model(model, rule=rule, data=data, steps=steps, seeds=seeds, batch_size=batch_size, device=device,
                        out=out, yes=yes, executor=executor.value, ray_address=ray_address,
                        ray_cpus=ray_cpus_per_pack, ray_gpus=ray_gpus_per_pack)
        return
    q = QUICK if quick else {}
    if quick and dataset is None and data is None and not os.environ.get("ARCHLINT_DATA"):
        # a smoke test needs no download: --quick alone runs on synthetic images (said again at the end)
        dataset = DatasetName.synthetic
        sys.stderr.write("note: --quick without --data: synthetic data (a smoke test, not evidence)\n")
    protocols = ("faithful", "modern") if protocol == ProtocolName.both else (protocol.value,)
    opts = Options(
        dataset=dataset.value if dataset else None, data=str(data) if data else None, rules=rule or None,
        protocols=protocols,
        placements=tuple(p.value for p in placement) if placement else ("before", "after", "pool"),
        seeds=seeds or q.get("seeds", 3), steps=steps or q.get("steps", 1000), epochs=epochs or q.get("epochs", 10),
        batch_size=batch_size or q.get("batch_size", 80), val_size=val_size or q.get("val_size"),
        limit=limit or q.get("limit"), test_limit=test_limit or q.get("test_limit"), device=device, out=out,
        packed=packed, pack_size=pack_size, compile=compile, verify=verify, cache_dir=cache_dir, plots=plots,
        progress=progress, quick=quick, primary_only=primary_only, yes=yes, trainer=trainer.value,
        precision=precision.value, executor=executor.value, ray_address=ray_address,
        ray_gpus_per_pack=ray_gpus_per_pack, ray_cpus_per_pack=ray_cpus_per_pack,
    )

    def log(msg: str) -> None:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()

    try:
        results = run(opts, log=log)
    except (ValidationError, ValueError) as e:
        _err(str(e))
        raise typer.Exit(code=2) from None
    except MemoryError:
        _err("ran out of memory (use --limit / --test-limit / --pack-size to ask for less); finished runs are kept "
             f"in {out} and a rerun resumes")
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        _err(f"interrupted; finished runs are kept in {out} and a rerun resumes")
        raise typer.Exit(code=130) from None
    if results["synthetic"]:
        log("note: SYNTHETIC data: smoke test only, not evidence")
    for code, per in results["verdicts"].items():
        for proto, v in per.items():
            power = ""
            if v["verdict"] == "inconclusive":
                det = v.get("detectable")
                power = ("; too few seeds for the exact test to reach p < 0.05" if det is None or det == float("inf")
                         else f"; smallest detectable effect {det:.3f}")
            typer.echo(f"{code} [{proto}]: {v['verdict']} (primary: {v['primary']}; {v['counts']['supported']} supported, "
                       f"{v['counts']['contradicted']} contradicted, {v['counts']['inconclusive']} inconclusive{power})")
    typer.echo(f"results: {Path(out) / 'results.md'}")


def _validate_model(model: str, *, rule, data, steps, seeds, batch_size, device, out, yes, executor="local",
                    ray_address=None, ray_cpus=1.0, ray_gpus=None) -> None:
    """``archlint validate MODEL``: the user's model as read vs with each finding's fix."""
    from archlint.errors import ArchlintError

    from .errors import DataError
    from .usermodel import validate_model, verdict_line

    def log(msg: str) -> None:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()

    dev = device
    if dev == "auto" or dev.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            if dev != "auto":
                _err(f"--device {dev}: no CUDA device is available to this torch build")
                raise typer.Exit(code=2)
            dev = "cpu"
        elif dev == "auto":
            dev = "cuda"
    try:
        res = validate_model(model, rules=rule, data=str(data) if data else None, steps=steps, seeds=seeds,
                             batch=batch_size or 64, device=dev, out=out, yes=yes, log=log, executor=executor,
                             ray_address=ray_address, ray_cpus_per_task=ray_cpus, ray_gpus_per_task=ray_gpus)
    except (ValidationError, DataError, ArchlintError, ValueError) as e:
        _err(str(e))
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        _err(f"interrupted; finished runs are kept in {out} and a rerun resumes")
        raise typer.Exit(code=130) from None
    if res["synthetic"] or res["proxy"]:
        log(f"note: {res['data']['label']}: not your data")
    for c in res["comparisons"]:
        typer.echo(verdict_line(c))
    if not res["comparisons"]:
        typer.echo("no finding with a fix to test")
    for s in res["symptoms"]:
        ex = ", ".join(f"{f['code']} ({f['node']})" for f in s["explained_by"]) or "no static finding explains it"
        typer.echo(f"symptom: {s['symptom']} ({s['when']}): {s['detail']}; explained by: {ex}")
    typer.echo(f"results: {Path(out) / 'results.md'}")
