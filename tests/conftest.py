# SPDX-License-Identifier: GPL-2.0-only
"""Shared fixtures: temporary copies of the tree and real scons runs in them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "site_scons"))

# What a build needs from the tree; everything else stays behind.
TREE_ENTRIES = ("SConstruct", "SConscript", "site_scons", "purgatory", "arch")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".sconsign*")

CODE_MODELS = ("pic", "large")


def copy_tree(dest, entries=TREE_ENTRIES):
    """A fresh copy of the buildable tree (or of ``entries``) at ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in entries:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORED)
        else:
            shutil.copy2(src, dest / name)
    return dest


def run_scons(tree, *args, check=True, env=None, cwd=None):
    """Run a real scons in ``tree``; returns the CompletedProcess (text)."""
    command = [sys.executable, "-m", "SCons", "-Q", *args]
    result = subprocess.run(command, cwd=cwd or tree, capture_output=True,
                            text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"scons {' '.join(args)} failed "
                             f"({result.returncode}):\n{result.stdout}"
                             f"\n{result.stderr}")
    return result


def kexec_purgatory_cli(*args):
    """Run the ``kexec-purgatory`` command (from this tree's package)."""
    return subprocess.run([sys.executable, "-m", "kexec_purgatory", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO / "site_scons")


def tree_listing(root):
    """Every file under ``root`` with its size and mtime, for 'untouched' checks."""
    root = Path(root)
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def tree(tmp_path):
    """A fresh, unbuilt copy of the tree."""
    return copy_tree(tmp_path / "tree")


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Build once per code model; returns {model: output directory Path}."""
    outputs = {}

    def get(model):
        if model not in outputs:
            root = copy_tree(tmp_path_factory.mktemp(f"built-{model}"))
            run_scons(root, f"CODE_MODEL={model}")
            outputs[model] = root / "build"
        return outputs[model]
    return get


@pytest.fixture(params=CODE_MODELS)
def purgatory_ro(request, built):
    """The project's purgatory.ro, built with each code model in turn."""
    return built(request.param) / "purgatory.ro"


def host_gcc():
    """The host C compiler the tests compile helper programs with."""
    return os.environ.get("HOST_CC", "gcc")

