"""The pre-commit hook, end to end with the real pre-commit package.

A temporary git repository uses the hook from a local repository; a commit
adding a model with dropout between convolutions is refused, a clean one
passes, and ``pre-commit try-repo`` gives the same verdict.

pre-commit builds a virtualenv and pip-installs the hook repository into it
(the two commits share one; try-repo always builds its own in a temporary
store). By default those virtualenvs see this Python's site-packages, so pip
installs only archlint itself (about 45 s for the test);
``ARCHLINT_PRECOMMIT_ISOLATED=1`` makes them fully isolated (pip then needs
PyPI or a warm cache; about two minutes).

The hook repository is a git snapshot of this checkout's tracked and
untracked (not ignored) files, what ``pre-commit try-repo`` itself commits for
a checkout with uncommitted changes, so the test checks the code under test
rather than the last commit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures" / "onnx"
BAD = FIX / "article_dropout03_before_act_dense.onnx"  # dropout between convolutions: AL001
CLEAN = FIX / "clean_cnn.onnx"

pytest.importorskip("pre_commit")
if shutil.which("git") is None:
    pytest.skip("git is not installed", allow_module_level=True)


def _env(tmp: Path) -> dict[str, str]:
    gitconfig = tmp / "gitconfig"
    gitconfig.write_text("[user]\n\tname = archlint test\n\temail = test@example.invalid\n"
                         "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        PRE_COMMIT_HOME=str(tmp / "pre-commit-home"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
    )
    if os.environ.get("ARCHLINT_PRECOMMIT_ISOLATED") != "1":
        # pre-commit's virtualenv may see the packages already installed here (typer, onnx,
        # numpy ...), so pip installs only archlint itself: ~4x faster than a full install.
        env["VIRTUALENV_SYSTEM_SITE_PACKAGES"] = "1"
        env["PIP_NO_BUILD_ISOLATION"] = "1"  # build with the setuptools already here
    return env


def sh(*args: object, cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _snapshot(dest: Path, env: dict[str, str]) -> str:
    """Commit this checkout's working tree into a fresh repository; return the sha."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    sh("git", "init", "-q", cwd=dest, env=env)
    sh("git", "add", "-A", cwd=dest, env=env)
    r = sh("git", "commit", "-q", "-m", "snapshot", cwd=dest, env=env)
    assert r.returncode == 0, r.stderr
    return sh("git", "rev-parse", "HEAD", cwd=dest, env=env).stdout.strip()


def test_hook_refuses_dropout_between_convs_and_passes_a_clean_model(tmp_path: Path) -> None:
    env = _env(tmp_path)
    hooks = tmp_path / "hooks-repo"
    hooks.mkdir()
    sha = _snapshot(hooks, env)
    work = tmp_path / "work"
    (work / "models").mkdir(parents=True)
    sh("git", "init", "-q", cwd=work, env=env)
    (work / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hooks}\n  rev: {sha}\n  hooks:\n  - id: archlint\n", encoding="utf-8"
    )
    (work / "README.md").write_text("models\n")
    sh("git", "add", ".pre-commit-config.yaml", "README.md", cwd=work, env=env)
    assert sh("git", "commit", "-q", "-m", "start", cwd=work, env=env).returncode == 0
    r = sh(sys.executable, "-m", "pre_commit", "install", cwd=work, env=env)
    assert r.returncode == 0, r.stdout + r.stderr

    shutil.copy(BAD, work / "models" / "bad.onnx")
    sh("git", "add", "models/bad.onnx", cwd=work, env=env)
    r = sh("git", "commit", "-m", "add a model with dropout between convolutions", cwd=work, env=env)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "archlint" in out and "Failed" in out and "AL001" in out and "dropout_1" in out, out
    assert sh("git", "rev-list", "--count", "HEAD", cwd=work, env=env).stdout.strip() == "1"

    # try-repo against the same hook repository and rev (it reuses the environment)
    r = sh(sys.executable, "-m", "pre_commit", "try-repo", hooks, "archlint", "--ref", sha,
           "--files", "models/bad.onnx", cwd=work, env=env)
    assert r.returncode == 1 and "AL001" in r.stdout, r.stdout + r.stderr

    sh("git", "rm", "-q", "--cached", "models/bad.onnx", cwd=work, env=env)
    (work / "models" / "bad.onnx").unlink()
    shutil.copy(CLEAN, work / "models" / "clean.onnx")
    sh("git", "add", "models/clean.onnx", cwd=work, env=env)
    r = sh("git", "commit", "-m", "add a clean model", cwd=work, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "archlint" in out and "Passed" in out, out
    assert sh("git", "rev-list", "--count", "HEAD", cwd=work, env=env).stdout.strip() == "2"
    # the commits shared one environment (try-repo builds its own, in a temporary store)
    envs = list((tmp_path / "pre-commit-home").glob("repo*/py_env-*"))
    assert len(envs) == 1, envs
