# SPDX-License-Identifier: GPL-2.0-only
"""`repro` and `scons verify-reproducible` know no tree's layout: the build
record's path comes from the build, so a kernel-like tree whose purgatory
lives in arch/x86/purgatory/ under O is checked like this one."""

from conftest import kexec_purgatory_cli, run_scons

import kernel_tree


def test_verify_reproducible_works_in_a_kernel_like_tree(tmp_path):
    tree = kernel_tree.make_kernel_tree(tmp_path / "linux")
    result = run_scons(tree, "verify-reproducible", "V=1")
    assert f"--record={kernel_tree.SUBDIR}/purgatory.buildinfo" in result.stdout
    assert "reproducible: all 2 builds gave the same files" in result.stdout
    for name in ("purgatory.ro", "purgatory.buildinfo", "kexec-purgatory.c",
                 "kexec-purgatory.S"):
        assert f"  {name}" in result.stdout, name


def test_repro_names_a_record_path_outside_the_output_directory(tmp_path):
    tree = kernel_tree.make_kernel_tree(tmp_path / "linux")
    result = kexec_purgatory_cli("repro", tree, "--record", "../elsewhere.buildinfo")
    assert result.returncode == 2
    assert "--record" in result.stderr and "../elsewhere.buildinfo" in result.stderr


def test_repro_without_the_trees_record_path_says_which_record_is_missing(tmp_path):
    tree = kernel_tree.make_kernel_tree(tmp_path / "linux")
    result = kexec_purgatory_cli("repro", tree, "--vary", "umask")
    assert result.returncode == 2
    assert "purgatory.buildinfo" in result.stderr
    assert "Traceback" not in result.stderr
