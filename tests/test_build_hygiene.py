# SPDX-License-Identifier: GPL-2.0-only
"""The build directory and the build's variables under hostile values: O
among the sources, an impossible CACHEDIR, a relative PREFIX, a bad
LOAD_ADDR, kernel-mode flags; scons -c removing every output; no stale
record or report beside a purgatory.ro a gate refused; and the RUN gate
of the default build."""

import json
import shutil

import pytest

import elf_objects
from conftest import run_scons, tree_listing
from test_scons_test_run import STUB_SCONSCRIPT


def one_line(result, *words):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "File \"" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("value, words", [
    (".", ["O: . is the source tree"]),
    ("..", ["O: .. holds the source tree"]),
    ("purgatory", ["O: purgatory is in the source directory purgatory/"]),
    ("arch/x86/out", ["source directory arch/"]),
    ("./site_scons/../purgatory/o", ["source directory purgatory/"])])
def test_an_output_directory_among_the_sources_is_refused_in_one_line(tree, value, words):
    before = tree_listing(tree)
    one_line(run_scons(tree, f"O={value}", check=False), *words)
    assert tree_listing(tree) == before


def test_a_cache_directory_that_cannot_be_created_is_one_line(tree):
    one_line(run_scons(tree, "CACHEDIR=/proc/kexec-purgatory-cache", check=False),
             "CACHEDIR: /proc/kexec-purgatory-cache")


def test_a_relative_prefix_is_refused(tree, tmp_path):
    one_line(run_scons(tree, "PREFIX=usr", f"DESTDIR={tmp_path / 'pkg'}",
                       "install", check=False), "PREFIX: 'usr'", "absolute")
    assert not (tmp_path / "pkg").exists()


@pytest.mark.parametrize("formats", ["c,S", "c,S,ihex"])
def test_a_bad_load_addr_is_refused_whatever_the_formats(tree, formats):
    one_line(run_scons(tree, "LOAD_ADDR=abc", f"FORMATS={formats}", check=False),
             "LOAD_ADDR")


def test_kernel_mode_refuses_cflags_without_first_saying_they_are_dropped(tree, tmp_path):
    result = run_scons(tree, f"KERNEL={tmp_path}", "CFLAGS=-O3", check=False)
    line = one_line(result, "CFLAGS: not used in kernel mode")
    assert "dropped" not in result.stdout + line


def test_clean_removes_every_output_of_every_format_chosen_before(tree):
    run_scons(tree, "FORMATS=c,S,ihex")
    build = tree / "build"
    assert (build / "purgatory.hex").is_file() and (build / "purgatory.run").is_file()
    run_scons(tree, "-c")
    left = sorted(p.name for p in build.rglob("*") if p.is_file())
    assert left == [".sconsign.dblite"], left


def _break_checker(tree):
    """An SSE instruction in the entry code: the CHECK gate refuses it."""
    source = tree / "arch" / "x86" / "entry64.S"
    source.write_text(source.read_text() + "\n\t.text\n\tpxor\t%xmm0, %xmm0\n")


def _break_link(tree):
    """A call to a function defined nowhere: the CHK gate refuses it."""
    source = tree / "purgatory" / "purgatory.c"
    source.write_text(source.read_text() + "\nvoid no_such_function(void);\n"
                      "void purgatory_calls_nothing(void) { no_such_function(); }\n")


def _break_run(tree):
    """A purgatory that forgets r15: only the RUN gate sees it."""
    shutil.copy(elf_objects.ABI_STUB, tree / "abi-stub.S")
    (tree / "SConscript").write_text(STUB_SCONSCRIPT)


@pytest.mark.parametrize("break_it, stale", [
    (_break_link, ["purgatory.check", "purgatory.run", "purgatory.buildinfo"]),
    (_break_checker, ["purgatory.check", "purgatory.run", "purgatory.buildinfo"]),
    (_break_run, ["purgatory.run", "purgatory.buildinfo"])],
    ids=["CHK", "CHECK", "RUN"])
def test_a_failed_gate_leaves_no_earlier_record_or_report_beside_purgatory_ro(
        tree, break_it, stale):
    run_scons(tree)
    build = tree / "build"
    for name in stale:
        assert (build / name).is_file(), name
    break_it(tree)
    result = run_scons(tree, check=False)
    assert result.returncode != 0
    left = [name for name in [*stale, "kexec-purgatory.c", "kexec-purgatory.S"]
            if (build / name).exists()]
    assert left == [], result.stdout + result.stderr


def test_the_default_build_runs_the_purgatory_at_a_low_and_a_high_address(tree):
    lines = run_scons(tree).stdout.splitlines()
    runs = [line for line in lines if line.startswith("  RUN     ")]
    assert len(runs) == 4 and all(": ok: " in line for line in runs), runs
    assert lines.index("  CHECK   build/purgatory.ro") < lines.index(runs[0])
    assert lines.index(runs[-1]) < lines.index("  BIN2C   build/kexec-purgatory.c")
    report = json.loads((tree / "build" / "purgatory.run").read_text())
    addresses = [r["address"] for r in report]
    assert min(addresses) < 1 << 32 < max(addresses)
    assert [r["outcome"] for r in report] == ["entered", "refused"] * 2


def test_a_purgatory_that_fails_in_emulation_is_not_embedded(tree):
    _break_run(tree)
    result = run_scons(tree, check=False)
    assert result.returncode != 0
    assert "failed in emulation" in result.stderr
    assert not (tree / "build" / "kexec-purgatory.c").exists()


def test_TEST_RUN_no_turns_the_gate_off_and_says_so(tree):
    run_scons(tree)
    assert (tree / "build" / "purgatory.run").is_file()
    _break_run(tree)
    result = run_scons(tree, "TEST_RUN=no")
    assert "  RUN     off (TEST_RUN=no)" in result.stdout
    assert not any(line.startswith("  RUN     build/") for line in result.stdout.splitlines())
    assert (tree / "build" / "kexec-purgatory.c").is_file()
    assert not (tree / "build" / "purgatory.run").exists()


def test_a_missing_unicorn_is_one_line_naming_it_and_TEST_RUN(tree, tmp_path):
    from test_packaging import run_scons_with_only
    line = one_line(run_scons_with_only(["SCons", "elftools", "capstone"], tree, tmp_path),
                    "'unicorn'")
    assert "TEST_RUN=no" in line
