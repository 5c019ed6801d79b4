# SPDX-License-Identifier: GPL-2.0-only
"""The tool as an SCons user meets it in a tree of their own:
``env.Purgatory(target, source)`` like ``env.Program``, a node list to pass
on, side files beside the target, only the tool's own variables, the
tree's own CC, and ``exists()``."""

import os
import shutil
import stat
import textwrap

import SCons.Environment

from conftest import IGNORED, REPO, run_scons
from kexec_purgatory.build.variables import BUILD_VARIABLES, TOOL_VARIABLES
from kexec_purgatory.scons import tool

SOURCES = ["arch/x86/setup-x86_64.S", "arch/x86/entry64.S", "arch/x86/stack.S",
           "purgatory/purgatory.c", "purgatory/sha256.c", "purgatory/string.c"]


def host_tree(dest, sconstruct):
    """A tree with this project's sources, the tool in site_scons/, and
    its own SConstruct (no variables of this project's)."""
    for name in ("purgatory", "arch", "site_scons"):
        shutil.copytree(REPO / name, dest / name, ignore=IGNORED)
    (dest / "SConstruct").write_text(textwrap.dedent(sconstruct))
    return dest


PLAIN = f"""\
    env = Environment(tools=["purgatory"], CPPPATH=["#purgatory", "#arch/x86/include"])
    nodes = env.Purgatory("out/purgatory.ro", {SOURCES!r},
                          linker_script="arch/x86/purgatory.lds")
    # A node list like any builder's: it can be passed on as it is.
    env.Alias("blob", nodes)
    Default(nodes)
    print("named:", nodes.relocatable, nodes.check, nodes.buildinfo,
          *nodes.outputs)
    print("list:", *nodes)
    Help(env["options"].GenerateHelpText(env))
"""


def test_purgatory_takes_target_and_sources_positionally_and_writes_beside_the_target(tmp_path):
    tree = host_tree(tmp_path / "host", PLAIN)
    out = run_scons(tree, "blob").stdout
    named = next(line for line in out.splitlines() if line.startswith("named:"))
    assert named.split()[1:] == ["out/purgatory.ro", "out/purgatory.check",
                                 "out/purgatory.buildinfo",
                                 "out/kexec-purgatory.c", "out/kexec-purgatory.S"]
    listed = next(line for line in out.splitlines() if line.startswith("list:"))
    assert listed.split()[1:] == ["out/purgatory.ro", "out/purgatory.chk",
                                  "out/purgatory.check", "out/purgatory.run",
                                  "out/kexec-purgatory.c",
                                  "out/kexec-purgatory.S", "out/purgatory.buildinfo"]
    for name in ("purgatory.ro", "purgatory.chk", "purgatory.check", "purgatory.run",
                 "purgatory.buildinfo", "kexec-purgatory.c", "kexec-purgatory.S"):
        assert (tree / "out" / name).is_file(), name
    assert not any(p.name.endswith((".chk", ".check", ".run", ".buildinfo", ".c", ".S"))
                   for p in tree.iterdir() if p.is_file())


def test_tool_adds_only_its_own_variables(tmp_path):
    tree = host_tree(tmp_path / "host", PLAIN)
    help_text = run_scons(tree, "-h").stdout
    for var in TOOL_VARIABLES:
        assert f"\n{var.name}: " in "\n" + help_text, var.name
    for name in BUILD_VARIABLES:
        assert f"\n{name}: " not in "\n" + help_text, name


def test_tool_keeps_the_trees_own_cc(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "tree-cc"
    wrapper.write_text('#!/bin/sh\nexec gcc "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    tree = host_tree(tmp_path / "host", PLAIN.replace(
        'env = Environment(tools=["purgatory"],',
        f'env = Environment(ENV={{"PATH": {str(bin_dir) + os.pathsep + os.environ["PATH"]!r}}},\n'
        '                  CC="tree-cc", tools=["purgatory"],'))
    env = dict(os.environ, PATH=str(bin_dir) + os.pathsep + os.environ["PATH"])
    # CC= on the command line is the tree's business: this tree offers none.
    out = run_scons(tree, "V=1", "CC=no-such-cc", env=env).stdout
    compiles = [line for line in out.splitlines() if " -c " in line]
    assert compiles and all(line.startswith("tree-cc ") for line in compiles)


def test_exists_honours_cc():
    assert tool.exists(SCons.Environment.Environment(tools=[], CC="gcc"))
    assert not tool.exists(SCons.Environment.Environment(tools=[], CC="no-such-cc"))
    assert tool.exists(SCons.Environment.Environment(tools=[]))  # ${CROSS_COMPILE}gcc
    assert not tool.exists(SCons.Environment.Environment(
        tools=[], CROSS_COMPILE="no-such-prefix-"))


def test_tool_defaults_given_by_the_tree_apply_unless_the_command_line_says(tmp_path):
    tree = host_tree(tmp_path / "host", PLAIN.replace(
        'tools=["purgatory"]', 'tools=[("purgatory", {"FORMATS": "c"})]'))
    run_scons(tree)
    assert (tree / "out" / "kexec-purgatory.c").is_file()
    assert not (tree / "out" / "kexec-purgatory.S").exists()
    run_scons(tree, "FORMATS=S")
    assert (tree / "out" / "kexec-purgatory.S").is_file()
