# SPDX-License-Identifier: GPL-2.0-only
"""The kernel<->purgatory contract, one module per architecture.

``for_machine(e_machine)`` gives the module of an ELF object's machine
(pyelftools' spelling, e.g. ``"EM_X86_64"``); each module holds the
symbols and their sizes, the entry rule, the regions table, the relocation
types the kernel's loader applies with their overflow rules, and the
instruction classes a purgatory must not use.
"""

from ..errors import UserError
from . import x86_64

ARCHITECTURES = {x86_64.E_MACHINE: x86_64}

# Machines whose kernels load a purgatory but whose contract is not here
# yet (pyelftools' names -> the machine's name): their objects get the
# ELF-header rule only, and a warning saying so.
NOT_YET = {"EM_S390": "s390x", "EM_PPC64": "ppc64", "EM_RISCV": "riscv64"}


def for_machine(e_machine, name="object"):
    """The ABI module of ``e_machine``, or UserError naming the file."""
    try:
        return ARCHITECTURES[e_machine]
    except KeyError:
        known = ", ".join(m.NAME for m in ARCHITECTURES.values())
        raise UserError(f"{name}: {e_machine} has no purgatory ABI here "
                        f"(known: {known})") from None
