# SPDX-License-Identifier: GPL-2.0-only
"""Build the checker's minimal purgatory, or one of its broken variants.

``tests/data/mini-purgatory`` holds a tiny purgatory (C + assembly) that
passes every checker rule when built with the project's flags and linked the
way Linux links its purgatory (``ld -r`` without a linker script). Each
negative fixture changes exactly one thing: a flag, a line of source, a link
option, or (where no toolchain produces the defect) one section header field.
Every change asserts that it applied, so a fixture cannot silently turn into
the good object.
"""

import os
import pathlib
import struct
import subprocess
import sys

from elftools.elf.elffile import ELFFile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = ROOT / "tests" / "data" / "mini-purgatory"

COMMON_CFLAGS = [
    "-std=gnu11", "-O2", "-nostdinc", "-ffreestanding", "-fno-builtin",
    "-fno-stack-protector", "-fcf-protection=none", "-mno-red-zone",
    "-mgeneral-regs-only", "-fno-asynchronous-unwind-tables",
    "-fno-unwind-tables", "-g0", "-fno-zero-initialized-in-bss",
    "-fno-common", "-fno-strict-aliasing",
]
CODE_MODEL_CFLAGS = {
    "pic": ["-fno-pie", "-fpic", "-mcmodel=small", "-fvisibility=hidden"],
    "large": ["-fno-pic", "-mcmodel=large"],
}
LINK = ["ld", "-r", "-e", "purgatory_start", "-z", "nodefaultlib"]

# Offsets of fields inside an Elf64_Shdr.
SHDR_FIELDS = {"sh_type": (4, "<I"), "sh_flags": (8, "<Q"), "sh_size": (32, "<Q"),
               "sh_addralign": (48, "<Q"), "sh_entsize": (56, "<Q")}


def _edit(text, replacements, what):
    for old, new in replacements:
        assert old in text, f"fixture edit of {what} does not apply: {old!r}"
        text = text.replace(old, new)
    return text


def build(workdir, *, code_model="pic", drop=(), add=(), c_edits=(),
          asm_edits=(), link=LINK, asm=True, ld_prefix=()):
    """Compile and link a variant into ``workdir/purgatory.ro``; return its path.

    ``drop`` flags must be in the flag set; ``c_edits``/``asm_edits`` are
    (old, new) replacements that must apply; ``asm=False`` leaves out the
    assembly half (for objects of another architecture).
    """
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cflags = COMMON_CFLAGS + CODE_MODEL_CFLAGS[code_model]
    for flag in drop:
        assert flag in cflags, f"fixture drops {flag}, which is not set"
        cflags.remove(flag)
    cflags += list(add)
    (workdir / "mini.c").write_text(
        _edit((SOURCES / "mini.c").read_text(), c_edits, "mini.c"))
    (workdir / "start.S").write_text(
        _edit((SOURCES / "start.S").read_text(), asm_edits, "start.S"))
    objects = ["mini.o"]
    _run(["gcc", *cflags, "-c", "mini.c", "-o", "mini.o"], workdir)
    if asm:
        _run(["gcc", *cflags, "-c", "start.S", "-o", "start.o"], workdir)
        objects.insert(0, "start.o")
    _run([*link, *ld_prefix, "-o", "purgatory.ro", *objects], workdir)
    return workdir / "purgatory.ro"


def patch_section(path, name, **fields):
    """Overwrite header fields of section ``name`` in place (sh_type=9, ...)."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        shoff = elf.header["e_shoff"]
        index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == name)
    with open(path, "r+b") as f:
        for field, value in fields.items():
            offset, fmt = SHDR_FIELDS[field]
            f.seek(shoff + index * 64 + offset)
            f.write(struct.pack(fmt, value))


def run_check(*args, cwd=None, site_scons=ROOT / "site_scons"):
    """Run ``python -m kexec_purgatory check ARGS``; the CompletedProcess (text)."""
    env = dict(os.environ, PYTHONPATH=str(site_scons))
    return subprocess.run([sys.executable, "-m", "kexec_purgatory", "check", *args],
                          cwd=cwd, env=env, capture_output=True, text=True)


def _run(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT)
