"""Every fixture that carries weights, executed from archlint's graph, against its
reference: the ONNX fixtures against onnx's reference evaluator
(``onnx.reference.ReferenceEvaluator``); the Keras fixtures are configs without
weights (listed: the executor refuses them with one error, as it should); the
PyTorch rule fixtures (``fixtures/rules/torch/*.py``, ``make_bad``/``make_ok``)
are captured as ``archlint check`` captures them and compared with the module.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/parity_fixtures.py

Prints one line per fixture and a summary (docs/executor.md quotes it).
"""

from __future__ import annotations

import glob
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import numpy as np
    import onnx
    import torch
    from onnx.reference import ReferenceEvaluator

    from archlint.api import load_graph
    from archlint.execute import ExecutionError, to_module

    onnx_files = sorted(glob.glob(str(ROOT / "fixtures" / "**" / "*.onnx"), recursive=True))
    worst, exact = 0.0, 0
    for path in onnx_files:
        model = onnx.load(path)
        inits = {t.name for t in model.graph.initializer}
        ins = [vi for vi in model.graph.input if vi.name not in inits]
        feeds = {vi.name: np.random.RandomState(0).randn(*[d.dim_value or 2 for d in vi.type.tensor_type.shape.dim]).astype("float32")
                 for vi in ins}
        want = ReferenceEvaluator(model).run(None, feeds)[0]
        em = to_module(load_graph(path)).eval()
        with torch.no_grad():
            got = em(*[torch.from_numpy(feeds[vi.name]) for vi in ins]).numpy()
        rel = float(np.abs(want - got).max() / (np.abs(want).max() + 1e-30))
        worst = max(worst, rel)
        exact += rel <= 1e-4
        print(f"{Path(path).relative_to(ROOT)}  initialisers={len(inits)}  rel={rel:.1e}")
    keras_files = sorted(glob.glob(str(ROOT / "fixtures" / "**" / "*.keras"), recursive=True)
                         + glob.glob(str(ROOT / "fixtures" / "**" / "*.h5"), recursive=True))
    refused = 0
    for path in keras_files:
        try:
            to_module(load_graph(path))
        except ExecutionError as e:
            refused += "holds no weights" in str(e)
        except Exception as e:  # noqa: BLE001 - reported
            print(f"{Path(path).relative_to(ROOT)}  load error: {e}")
    import importlib.util

    from archlint.frontends.torch import capture, default_example

    t_total, t_exact, t_worst, t_failed = 0, 0, 0.0, []
    for path in sorted(glob.glob(str(ROOT / "fixtures" / "rules" / "torch" / "al*.py"))):
        spec = importlib.util.spec_from_file_location(Path(path).stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for fn in ("make_bad", "make_ok"):
            if not hasattr(mod, fn):
                continue
            t_total += 1
            torch.manual_seed(0)
            model = getattr(mod, fn)()
            try:
                ex = default_example(torch, model)
                try:
                    g = capture(model, ex, fn)
                except Exception:  # noqa: BLE001 - an MNIST-sized head: the fixture's own input
                    from archlint.frontends.torch import Example

                    ex = Example((torch.randn(2, 1, 28, 28),))
                    g = capture(model, ex, fn)
                em = to_module(g)
                model.eval()
                em.eval()
                with torch.no_grad():
                    a, b = model(*ex.args, **ex.kwargs), em(*ex.args, **ex.kwargs)
                rel = float((a - b).abs().max() / (a.abs().max() + 1e-30))
            except Exception as e:  # noqa: BLE001 - reported
                t_failed.append(f"{Path(path).stem}:{fn}: {type(e).__name__}: {e}")
                continue
            t_worst = max(t_worst, rel)
            t_exact += rel <= 1e-4
            print(f"{Path(path).relative_to(ROOT)}:{fn}  rel={rel:.1e}")
    for f in t_failed:
        print("FAILED", f)
    print(f"ONNX fixtures: {exact}/{len(onnx_files)} exact within 1e-4 (worst rel {worst:.1e}); "
          f"PyTorch rule fixtures: {t_exact}/{t_total} exact (worst rel {t_worst:.1e}); "
          f"Keras fixtures: {refused}/{len(keras_files)} hold no weights and are refused with one error")


if __name__ == "__main__":
    main()
