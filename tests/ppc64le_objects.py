# SPDX-License-Identifier: GPL-2.0-only
"""Small ppc64le purgatories made with the real cross toolchain.

``trampoline(directory, ...)`` writes an assembly purgatory shaped by the
ppc64le contract (abi/ppc64le.py): the 256-byte ``purgatory_start`` whose
first word branches past it, ``run_at_load`` at 0x5c, the 8-byte words the
kernel sets, the digest and regions in .data. Its code, written here (not
the kernel's), does what the contract asks of the handover: addresses its
words relative to itself, stores the boot CPU in the FDT, loads r3/r4/r5/
r8/r9 and leaves for ``kernel``. The keyword arguments break one thing at a
time; ``cross_tools()`` says whether the cross compiler is installed.
"""

import shutil
from pathlib import Path

from elf_objects import run_tool

PREFIX = "powerpc64le-linux-gnu-"
GCC = f"{PREFIX}gcc-12"
LD = f"{PREFIX}ld"

WORDS = ("kernel", "dt_offset", "backup_start", "opal_base", "opal_entry")

TEMPLATE = """\
	.text
	.balign 256
	.globl purgatory_start
purgatory_start:
	b	master
	.org purgatory_start + 0x5c
{run_at_load_bind}	run_at_load
run_at_load:
	.long 0
	.size run_at_load, {run_at_load_size}
	.org purgatory_start + 0x100
	.size purgatory_start, . - purgatory_start

master:
	mr	%r17, %r3		/* boot CPU */
	bcl	20, 31, 0f
0:	mflr	%r18
	ld	%r3, (dt_offset - 0b)(%r18)
	li	%r6, 28
	stwbrx	%r17, %r3, %r6		/* boot_cpuid_phys, big-endian */
	ld	%r8, (opal_base - 0b)(%r18)
	ld	%r9, (opal_entry - 0b)(%r18)
	ld	%r4, (kernel - 0b)(%r18)
	lwz	%r6, (run_at_load - 0b)(%r18)
	stw	%r6, 0x5c(%r4)
	li	%r5, 0
{extra}
	mtctr	%r4
	bctr
{words}
	.data
	.balign 8
	.globl purgatory_sha256_digest
purgatory_sha256_digest:
	.skip 32
	.size purgatory_sha256_digest, 32
	.globl purgatory_sha_regions
purgatory_sha_regions:
	.skip 256
	.size purgatory_sha_regions, 256
"""


def cross_tools():
    return all(shutil.which(tool) for tool in (GCC, LD))


def _word(name, bind):
    return (f"\t.balign 8\n{bind}\t{name}\n{name}:\n\t.8byte 0\n"
            f"\t.size {name}, 8\n")


def trampoline(directory, name="purgatory", extra="", missing=(),
               local=(), run_at_load_size=4, big_endian=False):
    """Assemble and ``ld -r -e purgatory_start`` the purgatory; the path of
    ``name``.ro. ``extra``: instructions before the jump to the kernel;
    ``missing``: words whose symbol is left out (the code still uses the
    word); ``local``: symbols not made global."""
    directory = Path(directory)
    globl = {n: ("\t.local" if n in (*local, *missing) else "\t.globl")
             for n in (*WORDS, "run_at_load")}
    words = "".join(_word(n, globl[n]) for n in WORDS)
    source = directory / f"{name}.S"
    source.write_text(TEMPLATE.format(
        run_at_load_bind=globl["run_at_load"],
        run_at_load_size=run_at_load_size, extra=extra, words=words))
    obj = directory / f"{name}.o"
    endian = ["-mbig-endian"] if big_endian else []
    run_tool([GCC, *endian, "-c", source, "-o", obj], directory)
    out = directory / f"{name}.ro"
    # A missing symbol: local, and ld -x discards the local ones.
    run_tool([LD, *(["-EB"] if big_endian else []), *(["-x"] if missing else []),
              "-r", "-e", "purgatory_start", obj, "-o", out], directory)
    return out


def compile_c(directory, name, text, cflags):
    """A C file compiled for ppc64le with exactly ``cflags``; the .o path."""
    directory = Path(directory)
    source = directory / f"{name}.c"
    source.write_text(text)
    obj = directory / f"{name}.o"
    run_tool([GCC, *cflags, "-c", source, "-o", obj], directory)
    return obj


def link(directory, name, *objects):
    out = Path(directory) / f"{name}.ro"
    run_tool([LD, "-r", "-e", "purgatory_start", *objects, "-o", out], directory)
    return out
