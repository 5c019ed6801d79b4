# SPDX-License-Identifier: GPL-2.0-only
"""The `kernel` marker cannot be forgotten: conftest adds it to every test
using the kernel_trees fixture, and the trees refuse a test without it."""

import subprocess
import sys

import pytest

import linux_trees
from conftest import REPO


def collected(*options):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q",
         "-p", "no:cacheprovider", *options, "tests/test_kernel_mode.py",
         "tests/test_kernel_kbuild.py"],
        cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return {line for line in result.stdout.splitlines() if "::" in line}


def test_tests_using_the_kernel_trees_and_only_they_are_marked_kernel():
    everything, marked = collected(), collected("-m", "kernel")
    kernel_mode = {t for t in everything if "test_kernel_mode.py" in t}
    assert kernel_mode and kernel_mode <= marked
    assert ("tests/test_kernel_kbuild.py::test_kbuilds_answer_equals_its_cmd_"
            "files_word_for_word[amd64]") in marked
    assert ("tests/test_kernel_kbuild.py::test_a_kbuild_failure_is_its_last_"
            "error_line") in marked
    # The stand-in trees' tests stay in the quick loop.
    assert ("tests/test_kernel_kbuild.py::test_directory_that_is_not_a_kernel_"
            "tree_is_named") in everything - marked


def test_trees_refuse_a_test_not_marked_kernel():
    with pytest.raises(RuntimeError, match="kernel_trees fixture"):
        linux_trees.prepared("amd64")
