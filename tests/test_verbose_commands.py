# SPDX-License-Identifier: GPL-2.0-only
"""`scons V=1` prints, for every step that runs in Python, a command that
does the same outside SCons (built from the CLI's own option definitions):
run as printed, each gives the build's output byte for byte."""

import os
import shlex
import subprocess
import sys

import pytest

from conftest import run_scons

# The build's file each printed command writes (or, for CHECK, the report
# the build kept: its findings, which the command prints).
PRODUCTS = {"purgatory.chk": "ld", "purgatory.check": "check",
            "kexec-purgatory.c": "embed", "kexec-purgatory.S": "embed",
            "purgatory.hex": "embed", "purgatory.run": "test-run"}


def printed_commands(stdout):
    """The V=1 lines of the Python steps: the full link and kexec-purgatory."""
    return [shlex.split(line) for line in stdout.splitlines()
            if line.startswith(("kexec-purgatory ", "ld -e "))]


def rerun(words, tree, redirected):
    """Run a printed command with its output file moved to ``redirected``."""
    words = [str(redirected) if w.startswith("build/") and
             words[words.index(w) - 1] in ("-o", "--output") else w
             for w in words]
    if words[0] == "kexec-purgatory":
        words = [sys.executable, "-m", "kexec_purgatory", *words[1:]]
    env = dict(os.environ, PYTHONPATH=str(tree / "site_scons"))
    return subprocess.run(words, cwd=tree, env=env, capture_output=True,
                          text=True)


@pytest.mark.parametrize("model", ["pic", "large"])
def test_every_printed_python_step_reproduces_the_builds_output(tree, tmp_path, model):
    result = run_scons(tree, "V=1", f"CODE_MODEL={model}", "FORMATS=c,S,ihex")
    commands = printed_commands(result.stdout)
    programs = sorted(w[1] if w[0] == "kexec-purgatory" else w[0] for w in commands)
    assert programs == ["check", "embed", "embed", "embed", "ld", "test-run"], result.stdout
    build = tree / "build"
    for words in commands:
        if words[:2] == ["kexec-purgatory", "check"]:
            done = rerun(words, tree, None)
            assert done.returncode == 0, done.stderr
            assert done.stdout == (build / "purgatory.check").read_text()
            continue
        output = words[words.index("-o" if "-o" in words else "--output") + 1]
        product = tree / output
        assert product.name in PRODUCTS, words
        again = tmp_path / product.name
        done = rerun(words, tree, again)
        assert done.returncode == 0, (words, done.stderr)
        if product.suffix == ".S":
            # The .incbin file names the object beside it: the same text.
            assert again.read_text() == product.read_text()
        else:
            assert again.read_bytes() == product.read_bytes(), words


def test_printed_commands_quote_a_compiler_with_arguments(tree):
    result = run_scons(tree, "V=1", "CC=env gcc")
    incbin = next(line for line in result.stdout.splitlines()
                  if line.startswith("kexec-purgatory embed --format S"))
    assert "--cc 'env gcc'" in incbin
    assert shlex.split(incbin)[shlex.split(incbin).index("--cc") + 1] == "env gcc"
