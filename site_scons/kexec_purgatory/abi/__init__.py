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
from . import ppc64le, x86_64

ARCHITECTURES = {m.E_MACHINE: m for m in (x86_64, ppc64le)}

# Machines whose kernels load a purgatory but whose contract is not here
# yet (pyelftools' names -> the machine's name): their objects get the
# ELF-header rule only, and a warning saying so.
NOT_YET = {"EM_S390": "s390x", "EM_RISCV": "riscv64"}


# What every architecture's module defines (see x86_64.py for each):
INTERFACE = (
    # identity
    "NAME", "E_MACHINE", "ELF_CLASS", "LITTLE_ENDIAN",
    # placement: the page size and the lowest address the kernel uses
    "PAGE_SIZE", "MIN_LOAD_ADDRESS",
    # symbols the kernel reads or writes: {name: exact size or None}
    "SYMBOLS", "ENTRY_SYMBOL", "ENTRY_FROM_SYMBOL", "ENTRY_FROM_E_ENTRY",
    "ENTRY_RULES",
    # relocations: {number: object with name, width, pc_relative,
    # anywhere, fits(value), apply(image, at, value, place, section)},
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
        known = ", ".join(m.NAME for m in ARCHITECTURES.values())
        raise UserError(f"{name}: {e_machine} has no purgatory ABI here "
                        f"(known: {known})") from None
