"""A factory spec's --arg values name the model in every report header
(`timm:create_model --arg resnet18`, not `timm:create_model`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("torch")

FACTORY = """from torch import nn

def make(width=8):
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.Dropout(0.3), nn.Conv2d(width, width, 3), nn.ReLU())
"""


def _cli(tmp: Path, *args: str, env_no_color: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **({"NO_COLOR": "1"} if env_no_color else {})}
    return subprocess.run([sys.executable, "-m", "archlint.cli", *args], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=180)


def test_spec_arguments_in_text_json_html_and_show_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mk.py").write_text(FACTORY)
    spec = ["mk.py:make", "--arg", "width=16", "--input-shape", "1x3x16x16"]
    t = _cli(tmp_path, "check", *spec, "--select", "AL001", env_no_color=True)
    assert t.returncode == 1, t.stderr
    assert t.stdout.splitlines()[0] == "mk.py:make --arg width=16"
    # the other formats, from one in-process run
    import io

    from archlint.api import lint_paths, parse_shape
    from archlint.config import Config
    from archlint.reporters import emit
    from archlint.summary import print_summary, summary_dict

    monkeypatch.chdir(tmp_path)
    conf = Config(select=["AL001"])
    conf.load.args = ["width=16"]
    conf.load.input_shape = parse_shape("1x3x16x16")
    result = lint_paths(["mk.py:make"], conf, keep_views=True, jobs=1)
    assert [f.code for f in result.findings] == ["AL001"]
    out = {}
    for fmt in ("json", "html"):
        buf = io.StringIO()
        emit(fmt, result, buf)
        out[fmt] = buf.getvalue()
    j = json.loads(out["json"])
    assert j["files"][0]["path"] == "mk.py:make" and j["files"][0]["arguments"] == ["width=16"]
    assert "<h2>mk.py:make --arg width=16</h2>" in out["html"]
    buf = io.StringIO()
    print_summary(result.files[0], buf)
    assert "mk.py:make --arg width=16 (torch)" in buf.getvalue()
    assert summary_dict(result.files[0])["arguments"] == ["width=16"]
