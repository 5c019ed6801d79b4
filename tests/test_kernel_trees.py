# SPDX-License-Identifier: GPL-2.0-only
"""The prepared Debian trees of tests/linux_trees.py are what they claim:
the version, the compiler the .config was made for, KEXEC_FILE where issue
12 asks for it, and Kbuild's own purgatory.ro for the architecture, with
the .cmd files that say how Kbuild made it.

The first run downloads and prepares what the cache lacks (see
linux_trees.py's docstring for the sizes and times)."""

import re
import shutil
import subprocess

import pytest

import linux_trees
from kexec_purgatory.elf.reader import open_elf

# What each tree must be, written here again rather than read from
# linux_trees.TREES, so that a change there shows up here.
EXPECTED = {
    # name: (version prefix, Kbuild ARCH, CC, ELF machine, big endian,
    #        CONFIG_KEXEC_FILE=y required)
    "6.12-cloud-amd64": ("6.12.", "x86", "gcc-12", "EM_X86_64", False, True),
    "6.12-s390x": ("6.12.", "s390", "s390x-linux-gnu-gcc-12", "EM_S390",
                   True, False),
    "6.12-ppc64el": ("6.12.", "powerpc", "powerpc64le-linux-gnu-gcc-12",
                     "EM_PPC64", False, True),
    "6.12-riscv64": ("6.12.", "riscv", "riscv64-linux-gnu-gcc-12",
                     "EM_RISCV", False, True),
    "sid-amd64": ("7.", "x86", "gcc-12", "EM_X86_64", False, True),
}


def config_values(path):
    """{'CONFIG_X': 'value'} of the set options in a .config; unquoted."""
    values = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"(CONFIG_\w+)=(.*)", line)
        if match:
            values[match[1]] = match[2].strip('"')
    return values


def cmd_inputs(directory, target, arch):
    """The files of arch/ARCH/purgatory that Kbuild's command for ``target``
    read, from its .cmd file."""
    argv = linux_trees.kbuild_command(directory.parents[2], target, arch)
    prefix = f"arch/{arch}/purgatory/"
    return {word[len(prefix):] for word in argv
            if word.startswith(prefix) and word != prefix + target}


def test_every_tree_of_issue_12_is_listed():
    assert set(linux_trees.TREES) == set(EXPECTED)
    assert set(linux_trees.NAMES) == set(EXPECTED) | set(linux_trees.FLAVOURS)


@pytest.mark.slow
@pytest.mark.parametrize("name", tuple(EXPECTED))
def test_prepared_tree_is_what_it_claims(name, kernel_trees):
    version, arch, cc, machine, big_endian, kexec_file = EXPECTED[name]
    tree = kernel_trees.prepared(name)
    src, obj = tree                     # unpacks as (SRC, OBJ)
    assert (src, obj) == (tree.src, tree.obj)

    assert tree.name == name
    assert tree.version.startswith(version)
    assert tree.version == linux_trees.kernel_version(src)
    assert (tree.arch, tree.cc) == (arch, cc)
    assert tree.ld == f"{tree.cross_compile}ld"
    assert tree.make_vars["ARCH"] == arch
    assert tree.make_vars["CC"] == cc
    assert tree.make_vars.get("CROSS_COMPILE", "") == tree.cross_compile
    assert cc.startswith(tree.cross_compile)
    assert tree.make_vars["RUSTC"] == "/nonexistent"
    assert tree.make_args == [f"{k}={v}" for k, v in tree.make_vars.items()]

    config = config_values(obj / ".config")
    if kexec_file:
        assert config.get("CONFIG_KEXEC_FILE") == "y"
    assert config["CONFIG_ARCH_SUPPORTS_KEXEC_PURGATORY"] == "y"
    # The .config was made by this compiler (olddefconfig with CC=...), and
    # no rustc got in.
    compiler = subprocess.run([cc, "--version"], capture_output=True,
                              text=True, check=True).stdout.splitlines()[0]
    assert config["CONFIG_CC_VERSION_TEXT"] == compiler
    assert config["CONFIG_RUSTC_VERSION"] == "0"

    directory = tree.kbuild_purgatory_dir
    assert directory == obj / "arch" / arch / "purgatory"
    elf = open_elf(directory / "purgatory.ro")
    assert elf["e_type"] == "ET_REL"
    assert elf["e_machine"] == machine
    assert elf.elfclass == 64
    assert elf.little_endian is not big_endian

    # Kbuild's .cmd files for purgatory.ro and, down the chain, for every
    # file of the directory that a command read (s390: purgatory, then the
    # objects and the linker script).
    todo, seen = ["purgatory.ro"], set()
    while todo:
        target = todo.pop()
        seen.add(target)
        assert (directory / f".{target}.cmd").exists(), target
        todo += [name for name in cmd_inputs(directory, target, arch)
                 if name not in seen and (directory / name).exists()
                 and not name.endswith((".c", ".S", ".lds.S"))]
    assert len(seen) > 1


# -- Without the trees --------------------------------------------------------

def test_a_missing_cross_compiler_is_named_by_its_debian_package(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda tool: None
                        if tool.startswith("s390x-") else f"/usr/bin/{tool}")
    assert linux_trees._missing_tools(linux_trees.TREES["6.12-s390x"]) == [
        "binutils-s390x-linux-gnu", "gcc-12-s390x-linux-gnu"]
    assert linux_trees._missing_tools(linux_trees.TREES["6.12-ppc64el"]) == []
    monkeypatch.setattr(shutil, "which", lambda tool: None
                        if tool == "gcc-12" else f"/usr/bin/{tool}")
    assert linux_trees._missing_tools(linux_trees.TREES["sid-amd64"]) == [
        "gcc-12"]
