# SPDX-License-Identifier: GPL-2.0-only
"""The checker in the build, and on the project's own purgatory.ro."""

from conftest import run_scons
from mini_purgatory import run_check

from kexec_purgatory.check import check_file

SIMD_LINE = "\n\t.text\n\tpxor\t%xmm0, %xmm0\n"


def test_project_purgatory_passes_every_rule(purgatory_ro):
    assert [f.text() for f in check_file(str(purgatory_ro))] == []


def test_check_command_accepts_the_project_purgatory(purgatory_ro):
    result = run_check("--strict", str(purgatory_ro))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_build_checks_purgatory_ro_after_chk_and_before_embedding(tree):
    lines = run_scons(tree).stdout.splitlines()
    check_line = "  CHECK   build/purgatory.ro"
    assert check_line in lines
    assert (lines.index("  CHK     build/purgatory.chk") < lines.index(check_line)
            < lines.index("  BIN2C   build/kexec-purgatory.c"))
    assert (tree / "build" / "purgatory.check").read_text() == ""


def test_checker_error_fails_build_with_finding_and_removes_c_array(tree):
    run_scons(tree)
    c_array = tree / "build" / "kexec-purgatory.c"
    assert c_array.exists()
    source = tree / "arch" / "x86" / "entry64.S"
    source.write_text(source.read_text() + SIMD_LINE)
    result = run_scons(tree, check=False)
    assert result.returncode != 0
    finding = [line for line in result.stderr.splitlines()
               if line.startswith("build/purgatory.ro: error: fpu-simd: ")]
    assert len(finding) == 1 and "'pxor xmm0, xmm0'" in finding[0]
    assert not c_array.exists()
    assert not (tree / "build" / "purgatory.check").exists()
    # The same line as the command gives on the same object.
    command = run_check("build/purgatory.ro", cwd=tree,
                        site_scons=tree / "site_scons")
    assert command.returncode == 1 and command.stdout.splitlines() == finding
