"""``_torchvision_compat``: torchvision's models import beside a CPU torch whose
build torchvision's compiled ops do not match, and nothing is touched when they load.

Each case runs in a fresh interpreter: an import and a torch library
registration are process-wide."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")
if __import__("importlib").util.find_spec("torchvision") is None:
    pytest.skip("torchvision is not installed", allow_module_level=True)


def _run(code: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def _ops_load_natively() -> bool:
    """Whether torchvision's own compiled library loads here (a matching build)."""
    out = _run(
        """
        import torch, importlib.util, pathlib
        from archlint.frontends._torchvision_compat import _extension_path
        d = pathlib.Path(importlib.util.find_spec("torchvision").submodule_search_locations[0])
        try:
            torch.ops.load_library(str(_extension_path(d)))
            print("yes")
        except Exception:
            print("no")
        """
    )
    return out == "yes"


def test_install_is_lazy_and_imports_nothing() -> None:
    out = _run(
        """
        import sys
        from archlint.frontends import _torchvision_compat as c
        c.install()
        print("torch" in sys.modules, "torchvision" in sys.modules, c.defined())
        """
    )
    assert out == "False False False"


def test_models_import_and_run_when_the_compiled_ops_do_not_load() -> None:
    native = _ops_load_natively()
    out = _run(
        """
        from archlint.frontends import _torchvision_compat as c
        c.install()
        import torch, torchvision
        from torchvision import models
        m = models.resnet18()
        y = m(torch.randn(1, 3, 64, 64))
        print(c.defined(), len(models.list_models(module=models)), tuple(y.shape))
        try:
            torchvision.ops.nms(torch.rand(3, 4), torch.rand(3), 0.5)
            print("nms ran")
        except RuntimeError:
            print("nms refused")
        """
    )
    first, nms = out.splitlines()
    defined, count, shape = first.split(" ", 2)
    assert defined == str(not native)
    assert int(count) >= 80
    assert shape == "(1, 1000)"
    assert nms == ("nms ran" if native else "nms refused")


def test_nothing_is_touched_when_the_ops_exist() -> None:
    # the ops already defined (as torchvision's own library does when it loads): prepare() defines nothing
    out = _run(
        """
        import torch
        lib = torch.library.Library("torchvision", "FRAGMENT")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        from archlint.frontends import _torchvision_compat as c
        c.install()
        import torchvision.models
        print(c.defined())
        """
    )
    assert out == "False"


def test_already_imported_torchvision_is_left_alone() -> None:
    out = _run(
        """
        import sys
        from archlint.frontends import _torchvision_compat as c
        c.install()
        import torchvision
        before = list(sys.meta_path)
        c.install()  # a second call after the import adds nothing
        print(c._finder in sys.meta_path, before == list(sys.meta_path))
        """
    )
    assert out == "False True"


def test_factory_spec_from_torchvision_loads() -> None:
    out = _run(
        """
        from archlint.frontends import LoadOptions, load_graph
        g = load_graph("torchvision.models:resnet18", LoadOptions(input_shape=(2, 3, 64, 64)))
        print(sum(1 for n in g.nodes if n.kind.name == "CONV"))
        """
    )
    assert out == "20"
