# SPDX-License-Identifier: GPL-2.0-only
"""``scons test-run``: the built purgatory in emulation at a low, a
just-above-4-GiB and a high address, from a real scons in a copy of the tree."""

import json
import shutil

from conftest import run_scons

import elf_objects
from kexec_purgatory.emulate import testrun
from kexec_purgatory.emulate.machine import REACH, UNREACHABLE

STUB_SCONSCRIPT = """\
Import("env")
nodes = env.Purgatory("purgatory.ro", ["abi-stub.S"], CPPDEFINES=["FORGET_R15"])
Return("nodes")
"""


def test_test_run_enters_and_refuses_at_every_address_and_writes_a_report(tree):
    result = run_scons(tree, "test-run")
    lines = [line for line in result.stdout.splitlines() if line.startswith("  RUN ")]
    assert len(lines) == 2 * len(testrun.ADDRESSES)
    # Debian 12's Unicorn cannot reach 1 TiB: those runs say so, skipped.
    reached = [a for a in testrun.ADDRESSES if a < REACH]
    skipped = [line for line in lines if f": skipped: {UNREACHABLE}" in line]
    assert len(skipped) == 2 * (len(testrun.ADDRESSES) - len(reached))
    assert all(": ok: " in line for line in lines if line not in skipped), result.stdout
    report = json.loads((tree / "build" / "test-run.json").read_text())
    assert [r["address"] for r in report] == [a for a in testrun.ADDRESSES for _ in (0, 1)]
    assert [r.get("outcome", r.get("skipped")) for r in report] == [
        *(["entered", "refused"] * len(reached)),
        *([UNREACHABLE] * len(skipped))]
    assert min(testrun.ADDRESSES) < 1 << 32 < max(testrun.ADDRESSES) and max(testrun.ADDRESSES) >= 1 << 40
    again = run_scons(tree, "test-run")
    assert "`test-run' is up to date." in again.stdout


def test_clean_removes_the_test_run_report_too(tree):
    run_scons(tree, "test-run")
    assert (tree / "build" / "test-run.json").is_file()
    run_scons(tree, "-c")
    assert not (tree / "build" / "test-run.json").exists()


def test_test_run_fails_the_build_naming_the_register_and_the_command(tree):
    shutil.copy(elf_objects.ABI_STUB, tree / "abi-stub.S")
    (tree / "SConscript").write_text(STUB_SCONSCRIPT)
    result = run_scons(tree, "test-run", check=False)
    assert result.returncode != 0
    assert "FAILED: entered the kernel with wrong registers: r15=" in result.stdout
    assert "failed in emulation: kexec-purgatory run --addr 0x3000 build/purgatory.ro" in result.stderr
    assert not (tree / "build" / "test-run.json").exists()
