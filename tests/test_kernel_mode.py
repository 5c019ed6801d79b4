# SPDX-License-Identifier: GPL-2.0-only
"""Kernel mode end to end: scons builds a real Debian 6.1 tree's purgatory
with the commands Kbuild gives, byte-identical to Kbuild's, from this
repository and as a drop-in SConscript.

The trees come prepared from the cache (tests/linux_trees.py); the first run
fills it, which takes about a minute.
"""

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import linux_trees
from conftest import (copy_tree, embedded_bytes, incbin_bytes, require_tool,
                      run_scons, tree_listing)
from kexec_purgatory.kernel import kbuild
from kexec_purgatory.kernel.tree import KernelTree

pytestmark = pytest.mark.slow

# Kernel mode needs nothing of this repository's own purgatory sources.
KERNEL_MODE_ENTRIES = ("SConstruct", "site_scons")
KBUILD_DIR = "arch/x86/purgatory"
OBJECTS = ("purgatory.o", "stack.o", "setup-x86_64.o", "sha256.o",
           "entry64.o", "string.o")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return copy_tree(tmp_path_factory.mktemp("repo"), KERNEL_MODE_ENTRIES)


@pytest.fixture(scope="module", params=tuple(linux_trees.FLAVOURS))
def kernel_build(request, repo, tmp_path_factory, kernel_trees):
    """One scons kernel-mode build per flavour; the listings of SRC and OBJ
    before and after it."""
    src, obj = kernel_trees.prepared(request.param)
    before = tree_listing(src), tree_listing(obj)
    out = tmp_path_factory.mktemp(f"out-{request.param}")
    result = run_scons(repo, f"KERNEL={src}", f"KERNEL_O={obj}", f"O={out}")
    after = tree_listing(src), tree_listing(obj)
    return dict(src=src, obj=obj, out=out, result=result, before=before,
                after=after, built=out / KBUILD_DIR)


def assert_same_files(names, ours, kbuilds):
    for name in names:
        assert filecmp.cmp(Path(ours) / name, Path(kbuilds) / name,
                           shallow=False), name


def scons_error(result):
    """The one line scons printed for a failed build."""
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_kernel_mode_builds_kbuilds_objects_and_purgatory_ro_byte_for_byte(
        kernel_build):
    assert_same_files(OBJECTS + ("purgatory.ro", "purgatory.chk"),
                      kernel_build["built"], kernel_build["obj"] / KBUILD_DIR)


def test_kernel_mode_prints_one_kbuild_line_per_step(kernel_build):
    out = kernel_build["built"]
    lines = kernel_build["result"].stdout.splitlines()
    # The progress line of the step that takes seconds goes to stderr.
    assert kernel_build["result"].stderr.startswith(
        "  KBUILD  asking make for arch/x86/purgatory/")
    assert lines[0] == ("  KERNEL  6.1.192 x86_64 gcc (Debian 12.2.0-14+deb12u1)"
                        " 12.2.0") or lines[0].startswith("  KERNEL  6.1.")
    for tag, name in (("CC", "sha256.o"), ("AS", "entry64.o"),
                      ("LD", "purgatory.ro"), ("LD", "purgatory.chk"),
                      ("CHECK", "purgatory.ro"),
                      ("BIN2C", "kexec-purgatory.c")):
        assert f"  {tag:<8}{out / name}" in lines


def test_kernel_mode_only_reads_the_source_and_output_trees(kernel_build):
    assert kernel_build["after"] == kernel_build["before"]


def test_kernel_mode_purgatory_passes_the_checker(kernel_build):
    """The checker's gate passed (its report exists) with nothing to say
    about Kbuild's purgatory."""
    assert (kernel_build["built"] / "purgatory.check").read_text() == ""


def test_kernel_mode_c_array_holds_kbuilds_purgatory_ro(kernel_build,
                                                        tmp_path):
    blob, size, misalignment = embedded_bytes(
        kernel_build["built"] / "kexec-purgatory.c", tmp_path)
    kbuilds = (kernel_build["obj"] / KBUILD_DIR / "purgatory.ro").read_bytes()
    assert blob == kbuilds and size == len(kbuilds) and misalignment == 0


def test_kernel_mode_incbin_file_holds_kbuilds_purgatory_ro(kernel_build,
                                                           tmp_path):
    """Linux >= 6.0 embeds the purgatory with .incbin: assembled against
    our purgatory.ro, the .S file covers exactly Kbuild's bytes."""
    out = kernel_build["built"]
    blob, size = incbin_bytes(out / "kexec-purgatory.S", out, tmp_path)
    kbuilds = (kernel_build["obj"] / KBUILD_DIR / "purgatory.ro").read_bytes()
    assert blob == kbuilds and size == len(kbuilds)


def test_kernel_mode_second_run_rebuilds_nothing(repo, kernel_build):
    again = run_scons(repo, f"KERNEL={kernel_build['src']}",
                      f"KERNEL_O={kernel_build['obj']}",
                      f"O={kernel_build['out']}")
    assert "is up to date" in again.stdout
    # Only the line saying which kernel: no step ran, Kbuild was not asked.
    steps = [line for line in again.stdout.splitlines() if line.startswith("  ")]
    assert len(steps) == 1 and steps[0].startswith("  KERNEL  6.1."), steps


@pytest.fixture
def dropped_in(repo, tmp_path, kernel_trees):
    """A copy of the cloud-amd64 source tree (hard links: fast) with
    the package's kernel.SConscript as its arch/x86/purgatory/SConscript, its listing, and
    a function running scons -f on it with the given variables."""
    src, obj = kernel_trees.prepared("cloud-amd64")
    tree = tmp_path / "linux"
    subprocess.run(["cp", "-al", src, tree], check=True)
    shutil.copy(repo / "site_scons/kexec_purgatory/scons/kernel.SConscript",
                tree / KBUILD_DIR / "SConscript")

    def scons(*variables):
        return subprocess.run(
            [sys.executable, "-m", "SCons", "-Q", "-C", tree, "-f",
             f"{KBUILD_DIR}/SConscript", f"--site-dir={repo / 'site_scons'}",
             f"KERNEL_O={obj}", *variables], capture_output=True, text=True)
    return dict(tree=tree, obj=obj, listing=tree_listing(tree), scons=scons)


def test_sconscript_dropped_into_a_kernel_tree_builds_the_same_purgatory(
        dropped_in, tmp_path):
    """Run with scons -f from the kernel tree, it builds the same bytes and
    adds nothing to the tree but itself."""
    out = tmp_path / "out"
    result = dropped_in["scons"](f"O={out}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert_same_files(OBJECTS + ("purgatory.ro",), out / KBUILD_DIR,
                      dropped_in["obj"] / KBUILD_DIR)
    assert tree_listing(dropped_in["tree"]) == dropped_in["listing"]


def test_dropped_in_sconscript_without_O_refuses_to_write_into_the_tree(
        dropped_in):
    assert "O=" in scons_error(dropped_in["scons"]())
    assert tree_listing(dropped_in["tree"]) == dropped_in["listing"]


def test_unprepared_output_directory_gets_one_line_saying_what_to_run(
        repo, tmp_path, kernel_trees):
    src, prepared_obj = kernel_trees.prepared("amd64")
    obj = tmp_path / "obj"
    obj.mkdir()
    shutil.copy(prepared_obj / ".config", obj / ".config")
    out = tmp_path / "out"
    result = run_scons(repo, f"KERNEL={src}", f"KERNEL_O={obj}", f"O={out}",
                       check=False)
    line = scons_error(result)
    assert "not prepared" in line
    assert f"make -C {src} O={obj} olddefconfig prepare" in line
    assert not (out / KBUILD_DIR / "purgatory.ro").exists()


def test_source_tree_without_configuration_gets_one_line_saying_what_to_run(
        repo, tmp_path, kernel_trees):
    src, _ = kernel_trees.prepared("amd64")
    result = run_scons(repo, f"KERNEL={src}", f"O={tmp_path / 'out'}",
                       check=False)
    line = scons_error(result)
    assert "no .config" in line and f"make -C {src} olddefconfig prepare" \
        in line


def test_configuration_for_another_architecture_is_named(repo, tmp_path,
                                                         kernel_trees):
    src, _ = kernel_trees.prepared("amd64")
    obj = tmp_path / "obj-arm64"
    subprocess.run(["make", "-s", "-C", src, "ARCH=arm64", f"O={obj}",
                    "defconfig"], check=True, capture_output=True,
                   env=dict(os.environ, LC_ALL="C"))
    result = run_scons(repo, f"KERNEL={src}", f"KERNEL_O={obj}",
                       f"O={tmp_path / 'out'}", check=False)
    line = scons_error(result)
    assert "kexec_file on arm64 loads no purgatory" in line


@pytest.mark.parametrize("variable", ["CFLAGS=-O1", "CODE_MODEL=large"])
def test_user_flags_and_code_model_are_refused_in_kernel_mode(
        repo, tmp_path, variable, kernel_trees):
    src, obj = kernel_trees.prepared("amd64")
    result = run_scons(repo, f"KERNEL={src}", f"KERNEL_O={obj}",
                       f"O={tmp_path / 'out'}", variable, check=False)
    name = variable.split("=")[0]
    assert f"{name}: not used in kernel mode" in scons_error(result)


def test_kernel_o_without_kernel_is_refused_rather_than_ignored(
        repo, tmp_path, kernel_trees):
    src, obj = kernel_trees.prepared("amd64")
    result = run_scons(repo, f"KERNEL_O={obj}", f"O={tmp_path / 'out'}", check=False)
    assert "KERNEL_O: kernel mode needs KERNEL=SRC" in scons_error(result)


def test_kernel_mode_purgatory_passes_the_emulated_test_run(repo,
                                                            kernel_build):
    """Kbuild's purgatory, built by the tool, enters the kernel with the
    registers set and refuses a corrupted segment at every test address."""
    run_scons(repo, f"KERNEL={kernel_build['src']}",
              f"KERNEL_O={kernel_build['obj']}", f"O={kernel_build['out']}",
              "test-run")
    runs = json.loads((kernel_build["out"] / "test-run.json").read_text())
    assert runs and all(run["passed"] for run in runs)
    assert {run["outcome"] for run in runs} == {"entered", "refused"}


def test_tree_prepared_in_place_builds_kbuilds_purgatory_ro(repo, tmp_path,
                                                            kernel_trees):
    """KERNEL_O omitted: the tree is its own output directory, as when a
    kernel is configured and built in place; Kbuild's commands there have no
    -I for the source tree's include/ and purgatory directories."""
    src, _ = kernel_trees.prepared_in_tree("cloud-amd64", tmp_path / "linux")
    tree = KernelTree(src)
    found, _ = kbuild.commands(tree, tree.make_variables(), tmp_path / "ask",
                               dict(os.environ), lambda: "gcc")
    for command in found:
        assert command.command == linux_trees.recorded_command(src, command.target)
    before = tree_listing(src)
    out = tmp_path / "out"
    run_scons(repo, f"KERNEL={src}", f"O={out}")
    assert_same_files(OBJECTS + ("purgatory.ro",), out / KBUILD_DIR,
                      src / KBUILD_DIR)
    assert tree_listing(src) == before


def test_kernel_mode_build_record_names_kbuilds_commands_and_the_kernels_sources(
        kernel_build):
    text = (kernel_build["built"] / "purgatory.buildinfo").read_text()
    record = json.loads(text)
    # Each object has flags of its own: the tree-wide fields would mislead.
    assert record["code_model"] is None
    assert record["flags"]["c"] is None and record["flags"]["asm"] is None
    assert set(record["commands"]) == {f"{KBUILD_DIR}/{name}" for name in
                                       OBJECTS + ("purgatory.ro", "purgatory.chk")}
    sha = record["commands"][f"{KBUILD_DIR}/sha256.o"]
    assert "-D__DISABLE_EXPORTS" in sha and "-I./include" in sha
    assert "-fmacro-prefix-map=./=" in sha
    assert "lib/crypto/sha256.c" in record["sources"]
    assert "arch/x86/purgatory/purgatory.c" in record["sources"]
    for path in (kernel_build["src"], kernel_build["obj"], kernel_build["out"]):
        assert str(path) not in text


@pytest.mark.parametrize("name", tuple(linux_trees.TREES))
def test_every_tree_kind_builds_kbuilds_purgatory_ro_byte_for_byte(
        repo, tmp_path, kernel_trees, name):
    """6.12 on x86_64, s390x, ppc64el and riscv64, and unstable's 7.x: the
    same bytes as Kbuild's, from scons with nothing but the tree; the tree
    is only read; a second run builds nothing."""
    tree = kernel_trees.prepared(name)
    before = tree_listing(tree.src), tree_listing(tree.obj)
    out = tmp_path / "out"
    result = run_scons(repo, f"KERNEL={tree.src}", f"KERNEL_O={tree.obj}",
                       f"O={out}")
    built = out / "arch" / tree.arch / "purgatory"
    kbuilds = tree.kbuild_purgatory_dir
    assert filecmp.cmp(built / "purgatory.ro", kbuilds / "purgatory.ro",
                       shallow=False), name
    assert (tree_listing(tree.src), tree_listing(tree.obj)) == before
    kernel_line = next(line for line in result.stdout.splitlines()
                       if line.startswith("  KERNEL  "))
    assert kernel_line.startswith(f"  KERNEL  {tree.version} ")
    record = json.loads((built / "purgatory.buildinfo").read_text())
    assert record["purgatory.ro"]["sha256"]
    again = run_scons(repo, f"KERNEL={tree.src}", f"KERNEL_O={tree.obj}",
                      f"O={out}")
    assert [line for line in again.stdout.splitlines()
            if line.startswith("  ")] == [kernel_line]


@pytest.mark.parametrize("name, machine, corrupted", [
    ("6.12-s390x", "s390x", "refused"),
    ("6.12-riscv64", "riscv64", "refused"),
    # trampoline_64.S checks no digest: entered, and said so.
    ("6.12-ppc64el", "ppc64le", "entered")])
def test_kernel_mode_test_run_emulates_every_architecture(
        repo, tmp_path, kernel_trees, name, machine, corrupted):
    """Kbuild's 6.12 purgatory of s390x, riscv64 and ppc64le (in QEMU),
    built by the tool, enters the new kernel at the architecture's three
    test addresses; with a corrupted segment it refuses where the
    purgatory checks the digest."""
    from kexec_purgatory import abi
    if machine == "ppc64le":
        from kexec_purgatory.emulate import ppc64le
        require_tool(ppc64le.qemu_available(), f"{ppc64le.QEMU} is not installed")
    tree = kernel_trees.prepared(name)
    out = tmp_path / "out"
    result = run_scons(repo, f"KERNEL={tree.src}", f"KERNEL_O={tree.obj}", f"O={out}",
                       "test-run")
    runs = json.loads((out / "test-run.json").read_text())
    module = next(m for m in abi.ARCHITECTURES.values() if m.NAME == machine)
    assert [r["address"] for r in runs] == [a for a in module.TEST_ADDRESSES
                                            for _ in (0, 1)]
    assert all(r["passed"] for r in runs)
    assert [r["outcome"] for r in runs] == ["entered", corrupted] * 3
    if corrupted == "entered":
        assert result.stdout.count("powerpc's purgatory checks no digest") == 3


def test_verify_reproducible_works_in_kernel_mode(repo, tmp_path, kernel_trees):
    """repro rebuilds a kernel tree's purgatory under varied conditions
    (the record's path from the build: arch/x86/purgatory/ under O)."""
    src, obj = kernel_trees.prepared("cloud-amd64")
    result = run_scons(repo, f"KERNEL={src}", f"KERNEL_O={obj}",
                       f"O={tmp_path / 'out'}", "verify-reproducible", "V=1")
    assert "--record=arch/x86/purgatory/purgatory.buildinfo" in result.stdout
    assert "reproducible: all 2 builds gave the same files" in result.stdout
