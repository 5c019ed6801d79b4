# SPDX-License-Identifier: GPL-2.0-only
"""The tool used from a tree that is not this repository: loaded three ways
(a copied site_scons/, toolpath= at a checkout, a pip-installed wheel), and
a kernel-like tree built in tree, with O=, with -C and with -u."""

import subprocess
import sys
import zipfile
from pathlib import Path

import capstone
import elftools
import intelhex
import pytest
import SCons
import unicorn

from conftest import REPO, copy_tree, run_scons, tree_listing
from kernel_tree import (ARRAY_SYMBOL, CONFIG_HEADER, SIZE_SYMBOL, SUBDIR,
                         make_kernel_tree, outputs_of)
from kexec_purgatory.elf.reader import open_elf

PACKAGING_FILES = ("pyproject.toml", "README.md", "COPYING", "site_scons", "share")


def pip(*args):
    result = subprocess.run([sys.executable, "-m", "pip", "-q",
                             "--disable-pip-version-check", *map(str, args)],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"pip {args[0]} failed:\n{result.stderr}"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """A wheel built by pip from a clean copy of the project."""
    src = tmp_path_factory.mktemp("wheel-src")
    copy_tree(src, PACKAGING_FILES)
    dist = tmp_path_factory.mktemp("dist")
    # pip fetches setuptools for the isolated build, as `pip install .` does.
    pip("wheel", "--no-deps", "-w", dist, src)
    (whl,) = dist.glob("kexec_purgatory-*.whl")
    return whl


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory, wheel):
    """A fresh venv with the wheel pip-installed; scons and pyelftools come
    from the test's own environment (.pth lines), not from this checkout."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv],
                   check=True)
    python = venv / "bin" / "python"
    pip("--python", python, "install", "--no-deps", wheel)
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    # Wherever the test's own SCons and libraries are: its venv, or
    # Debian's dist-packages under a --system-site-packages venv.
    deps = {str(Path(m.__file__).parent.parent)
            for m in (SCons, capstone, elftools, intelhex, unicorn)}
    (site / "test-deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    return venv


def check_tree_outputs(build_dir):
    """The kernel-like tree's outputs, with its names and its extra source."""
    out = outputs_of(build_dir)
    elf = open_elf(str(out["purgatory.ro"]))
    names = {s.name for s in elf.get_section_by_name(".symtab").iter_symbols()}
    assert {"purgatory_start", "tree_config_level"} <= names
    assert f"const unsigned char {ARRAY_SYMBOL}[" in out["kexec-purgatory.c"].read_text()
    assert f"\t.globl {SIZE_SYMBOL}\n" in out["kexec-purgatory.S"].read_text()


def test_tool_loads_from_a_copy_of_site_scons_in_another_tree(tmp_path):
    tree = make_kernel_tree(tmp_path / "linux", loader="site_scons")
    run_scons(tree)
    check_tree_outputs(tree / "build")


def test_tool_loads_through_toolpath_at_a_checkout(tmp_path):
    checkout = copy_tree(tmp_path / "checkout")
    tree = make_kernel_tree(tmp_path / "linux", loader="toolpath",
                            tool_dir=checkout / "site_scons" / "site_tools")
    assert not (tree / "site_scons").exists()
    run_scons(tree)
    check_tree_outputs(tree / "build")


def test_wheel_carries_the_tool_and_every_module_of_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "kexec_purgatory/site_tools/purgatory.py" in names
    # Kernel mode's SConscript, for a copy in a kernel tree.
    assert "kexec_purgatory/scons/kernel.SConscript" in names
    package = REPO / "site_scons" / "kexec_purgatory"
    for module in package.rglob("*.py"):
        assert f"kexec_purgatory/{module.relative_to(package)}" in names, \
            f"{module}: not in the wheel; list its package in pyproject.toml"


def test_wheel_installs_the_man_page_and_the_completions(wheel, wheel_venv):
    from kexec_purgatory.cli import manual
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in manual.paths():
        assert any(n.endswith(f".data/data/share/{path}") for n in names), path
        installed = wheel_venv / "share" / path
        assert installed.read_text() == (REPO / "share" / path).read_text()


def test_tool_loads_from_a_pip_installed_wheel_with_nothing_copied(
        tmp_path, wheel_venv):
    tree = make_kernel_tree(tmp_path / "linux", loader="pip")
    assert not (tree / "site_scons").exists()
    python = wheel_venv / "bin" / "python"
    result = subprocess.run([python, "-m", "SCons", "-Q"], cwd=tree,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"tool from {wheel_venv}/lib/" in result.stdout
    check_tree_outputs(tree / "build")
    version = subprocess.run([wheel_venv / "bin" / "kexec-purgatory", "--version"],
                             capture_output=True, text=True, check=True)
    assert version.stdout.startswith("kexec-purgatory ")


def test_kernel_like_tree_builds_in_tree_with_its_includes_defines_and_names(tmp_path):
    tree = make_kernel_tree(tmp_path / "linux")
    out = run_scons(tree).stdout.splitlines()
    assert f"  CC      build/{SUBDIR}/tree-config.o" in out
    assert f"  LD      build/{SUBDIR}/purgatory.ro" in out
    check_tree_outputs(tree / "build")


def test_kernel_like_tree_builds_out_of_tree_with_O(tmp_path):
    tree = make_kernel_tree(tmp_path / "linux")
    before = tree_listing(tree)
    run_scons(tree, f"O={tmp_path / 'obj'}")
    check_tree_outputs(tmp_path / "obj")
    assert tree_listing(tree) == before


def test_kernel_like_tree_builds_with_scons_C_from_another_directory(tmp_path):
    tree = make_kernel_tree(tmp_path / "linux")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    run_scons(tree, "-C", str(tree), "O=out", cwd=elsewhere)
    check_tree_outputs(tree / "out")
    assert list(elsewhere.iterdir()) == []


def test_scons_u_in_the_purgatory_directory_builds_its_purgatory(tmp_path):
    tree = make_kernel_tree(tmp_path / "linux")
    run_scons(tree, "-u", f"O={tmp_path / 'obj'}", cwd=tree / SUBDIR)
    check_tree_outputs(tmp_path / "obj")
    again = run_scons(tree, "-u", f"O={tmp_path / 'obj'}", cwd=tree / SUBDIR)
    assert "  CC  " not in again.stdout


def test_changing_the_forced_config_header_rebuilds_every_object(tmp_path):
    tree = make_kernel_tree(tmp_path / "linux")
    run_scons(tree)
    config = tree / CONFIG_HEADER
    config.write_text(config.read_text() + "#define CONFIG_TREE_OTHER 1\n")
    out = run_scons(tree).stdout.splitlines()
    assert f"  CC      build/{SUBDIR}/tree-config.o" in out
    assert f"  AS      build/{SUBDIR}/entry64.o" in out
