# SPDX-License-Identifier: GPL-2.0-only
"""The kernel<->purgatory contract, one module per architecture.

``for_machine(e_machine)`` gives the module of an ELF object's machine
(pyelftools' spelling, e.g. ``"EM_X86_64"``); each module holds the
symbols and their sizes, the entry rule, the regions table, the relocation
types the kernel's loader applies with their overflow rules, and the
instruction classes a purgatory must not use. Every module provides the
names in ``INTERFACE`` (tests/test_abi.py holds each to it); the loader,
the checker and the emulator read nothing else.
"""

from ..errors import UserError
from . import ppc64le, riscv64, s390x, x86_64

ARCHITECTURES = {module.E_MACHINE: module for module in (
    x86_64,
    s390x,
    riscv64,
    ppc64le,
)}

# Machines whose kernels load a purgatory but whose contract is not here
# yet (pyelftools' names -> the machine's name): their objects get the
# ELF-header rule only, and a warning saying so.
NOT_YET = {}


# What every architecture's module defines (see x86_64.py for each):
INTERFACE = (
    # identity
    "NAME", "E_MACHINE", "ELF_CLASS", "LITTLE_ENDIAN",
    # building it: Kbuild's ARCH, Debian's cross prefix, the native host
    "KBUILD_ARCH", "DEBIAN_CROSS_COMPILE", "HOST_MACHINE",
    # placement: the page size and the lowest address the kernel uses
    "PAGE_SIZE", "MIN_LOAD_ADDRESS",
    # low, middle and high addresses test-run uses (run: the middle)
    "TEST_ADDRESSES",
    # symbols the kernel reads or writes: {name: exact size or None}
    "SYMBOLS", "ENTRY_SYMBOL", "ENTRY_FROM_SYMBOL", "ENTRY_FROM_E_ENTRY",
    "ENTRY_RULES",
    # relocations: {number: object with name, width, pc_relative,
    # anywhere, fits(value), apply(image, at, value, place)},
    # names for messages, and whether SHT_REL is refused
    "RELOCATIONS", "relocation_name", "RELA_ONLY", "U64",
    # instructions a purgatory must not use, in capstone's names
    "CAPSTONE", "CAPSTONE_CONSTANTS", "CAPSTONE_PREFIX", "FORBIDDEN_GROUPS",
    "FORBIDDEN_REGISTERS", "GENERAL_PURPOSE_INSTRUCTIONS",
    "STATE_SAVE_INSTRUCTIONS", "STATE_SAVE_CLASS", "CLASS_RANK",
    "INSTRUCTION_ADVICE",
)
# Optional, with the default when absent:
#   RELA_APPLIED (True): False where the kernel applies no relocation at
#     all (powerpc), RELA_REFUSED_MESSAGE then being its refusal;
#   OTHER_BYTE_ORDER (None): the name of the same e_machine in the other
#     byte order when the kernel loads that too but it is not modelled
#     (checked for the ELF header only, with a warning);
#   INSTRUCTION_ALIGNMENT (1): how far the checker moves on after bytes
#     it cannot decode;
#   PREFILTER_BYTES (b""): see x86_64.


def for_machine(e_machine, name="object"):
    """The ABI module of ``e_machine``, or UserError naming the file."""
    try:
        return ARCHITECTURES[e_machine]
    except KeyError:
        raise UserError(f"{name}: {refusal(e_machine)}") from None


def refusal(e_machine):
    """Why an object of ``e_machine`` is no purgatory this tool can take."""
    if e_machine in NO_PURGATORY:
        label, arch = NO_PURGATORY[e_machine]
        return f"{label}: kexec_file loads no purgatory on {arch}"
    known = ", ".join(m.NAME for m in ARCHITECTURES.values())
    return f"{e_machine} has no purgatory ABI here (known: {known})"


# Machines with kexec_file but no purgatory: arm64 and parisc hand over in
# the kernel (arch/arm64/kernel/machine_kexec_file.c loads none), and
# LoongArch's kexec_file (2025) loads none either.
NO_PURGATORY = {"EM_AARCH64": ("AArch64", "arm64"),
                "EM_PARISC": ("PA-RISC", "parisc"),
                "EM_LOONGARCH": ("LoongArch", "loongarch")}
