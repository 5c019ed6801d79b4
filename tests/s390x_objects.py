# SPDX-License-Identifier: GPL-2.0-only
"""Small s390x objects made with the real cross toolchain (gcc-12, ld) for
the s390x checker and loader tests: a stub purgatory with the symbols
arch/s390/kernel/machine_kexec_file.c writes (sizes and presence
changeable), C code compiled with given flags, linked as Kbuild links the
purgatory (ld -r)."""

import shutil
from pathlib import Path

from elf_objects import run_tool

CC = "s390x-linux-gnu-gcc-12"
LD = "s390x-linux-gnu-ld"
# arch/s390/purgatory/Makefile's own flags (KBUILD_CFLAGS := ...).
PURGATORY_CFLAGS = ["-std=gnu11", "-fno-strict-aliasing", "-fno-zero-initialized-in-bss",
                    "-fno-builtin", "-ffreestanding", "-Os", "-m64", "-msoft-float",
                    "-fno-common", "-fno-stack-protector", "-fno-PIE"]

# name -> size as head.S defines them (kernel_entry... are .skip 8).
STUB_SYMBOLS = {"purgatory_sha256_digest": 32, "purgatory_sha_regions": 256,
                "kernel_entry": 8, "kernel_type": 8, "crash_start": 8,
                "crash_size": 8}


def available():
    return shutil.which(CC) is not None and shutil.which(LD) is not None


def stub_source(sizes=None, omit=(), call=None):
    """A purgatory_start that (optionally) calls ``call``, then loads
    kernel_entry and branches there, and the ABI data symbols."""
    sizes = {**STUB_SYMBOLS, **(sizes or {})}
    lines = ["\t.text", "\t.globl purgatory_start",
             "\t.type purgatory_start, @function", "purgatory_start:"]
    if call:
        lines.append(f"\tbrasl\t%r14,{call}")
    lines += ["\tlarl\t%r1,kernel_entry", "\tlg\t%r4,0(%r1)", "\tbr\t%r4",
              "\t.size purgatory_start, .-purgatory_start", "\t.data",
              "\t.balign 8"]
    for name, size in sizes.items():
        if name in omit:
            continue
        lines += [f"\t.globl {name}", f"\t.type {name}, @object",
                  f"\t.size {name}, {size}", f"{name}:", f"\t.skip {size}"]
    return "\n".join(lines) + "\n"


def compile_object(directory, name, text, cflags=PURGATORY_CFLAGS):
    """``text`` (C, or assembly when ``name`` ends in .S) compiled with
    ``cflags``; the .o path."""
    directory = Path(directory)
    source = directory / (name if "." in name else f"{name}.c")
    source.write_text(text)
    obj = directory / f"{source.stem}.o"
    run_tool([CC, *cflags, "-c", source, "-o", obj], directory)
    return obj


def link(directory, objects, output="purgatory.ro"):
    """ld -r -e purgatory_start, as arch/s390/purgatory/Makefile links."""
    out = Path(directory) / output
    run_tool([LD, "-r", "-nostdlib", "-z", "nodefaultlib",
              "-e", "purgatory_start", *objects, "-o", out], directory)
    return out


def stub_purgatory(directory, c_text=None, cflags=PURGATORY_CFLAGS, **stub):
    """The stub (``stub`` as for stub_source), with ``c_text`` compiled with
    ``cflags`` linked in when given."""
    objects = [compile_object(directory, "head.S", stub_source(**stub), [])]
    if c_text is not None:
        objects.append(compile_object(directory, "code", c_text, cflags))
    return link(directory, objects)
