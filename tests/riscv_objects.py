# SPDX-License-Identifier: GPL-2.0-only
"""riscv64 objects for the tests, made with Debian's riscv64 cross
toolchain (gcc-12-riscv64-linux-gnu, binutils-riscv64-linux-gnu): small
sources with the flags of arch/riscv/purgatory/Makefile, linked with
``ld -r`` (alone or into Kbuild's purgatory.ro), and one-byte patches."""

import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

CC = "riscv64-linux-gnu-gcc-12"
LD = "riscv64-linux-gnu-ld"
# arch/riscv/purgatory/Makefile: the kernel's riscv flags with -mcmodel=medany
# and without -fPIE (KBUILD_CFLAGS), as Kbuild's command line for purgatory.o.
CFLAGS = ["-O2", "-mcmodel=medany", "-march=rv64imac_zicsr_zifencei",
          "-mabi=lp64", "-fno-PIE", "-ffreestanding", "-fno-stack-protector",
          "-fno-common", "-fno-builtin"]

# A whole minimal purgatory in assembly: the four symbols the kernel uses,
# purgatory_start, and one auipc/addi pair (a ``lla``).
MINIMAL = """\
	.text
	.globl	purgatory_start
purgatory_start:
.Lhi:	auipc	a2, %pcrel_hi(riscv_kernel_entry)
	{between}addi	a2, a2, %pcrel_lo(.Lhi)
	ld	a2, 0(a2)
	jr	a2
	.data
	.balign	8
	.globl	riscv_kernel_entry
	.type	riscv_kernel_entry, @object
	.size	riscv_kernel_entry, 8
riscv_kernel_entry:	.quad	0
	.section .kexec-purgatory, "aw"
	.globl	purgatory_sha_regions, purgatory_sha256_digest
	.type	purgatory_sha_regions, @object
	.size	purgatory_sha_regions, 256
purgatory_sha_regions:	.space	256
	.type	purgatory_sha256_digest, @object
	.size	purgatory_sha256_digest, 32
purgatory_sha256_digest:	.space	32
"""


def require_tools():
    missing = [tool for tool in (CC, LD) if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"no riscv64 cross toolchain ({', '.join(missing)}): "
                    "apt-get install gcc-12-riscv64-linux-gnu")


def _run(command, cwd):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(map(str, command))}:\n{result.stderr}"


def compile_source(directory, name, text, flags=()):
    """``name`` (.c or .S) holding ``text``, compiled to name.o."""
    require_tools()
    directory = Path(directory)
    source = directory / name
    source.write_text(text)
    output = source.with_suffix(".o")
    _run([CC, *CFLAGS, *flags, "-c", source, "-o", output], directory)
    return output


def link_relocatable(directory, objects, output):
    """``ld -r -e purgatory_start``, as the Makefile links purgatory.ro."""
    output = Path(directory) / output
    _run([LD, "-r", "-e", "purgatory_start", *objects, "-o", output], directory)
    return output


def minimal(directory, between="", name="minimal.ro"):
    """The minimal purgatory; ``between`` goes between auipc and addi."""
    obj = compile_source(directory, name.replace(".ro", ".S"),
                         MINIMAL.format(between=between))
    return link_relocatable(directory, [obj], name)


def _symbol_entry(path, name):
    """(file offset of the symbol's Elf64_Sym, that symbol, strtab offset)."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        strtab = elf.get_section(symtab["sh_link"])
        for index, sym in enumerate(symtab.iter_symbols()):
            if sym.name == name and sym["st_info"]["bind"] == "STB_GLOBAL":
                return (symtab["sh_offset"] + index * symtab["sh_entsize"],
                        sym, strtab["sh_offset"])
    raise KeyError(name)


def patch_byte(source, output, offset, value):
    data = bytearray(Path(source).read_bytes())
    data[offset] = value
    Path(output).write_bytes(bytes(data))
    return Path(output)


def with_symbol_size(source, output, name, size):
    """One byte: st_size's low byte (the sizes here are below 256)."""
    entry, _, _ = _symbol_entry(source, name)
    return patch_byte(source, output, entry + 16, size)


def with_symbol_renamed(source, output, name, index, char):
    """One byte of the symbol's name in .strtab."""
    _, sym, strtab = _symbol_entry(source, name)
    return patch_byte(source, output, strtab + sym["st_name"] + index, ord(char))


def pcrel_target(image, offset):
    """place + the signed 32-bit auipc immediate + the signed 12-bit I-type
    immediate of the next instruction, relative to ``offset``: what an
    auipc/addi (or ld, jalr) pair reaches."""
    auipc = int.from_bytes(image[offset:offset + 4], "little")
    itype = int.from_bytes(image[offset + 4:offset + 8], "little")
    hi = auipc & 0xfffff000
    hi -= (hi & 0x80000000) << 1
    lo = itype >> 20
    lo -= (lo & 0x800) << 1
    return hi + lo
