# SPDX-License-Identifier: GPL-2.0-only
"""Which SHA-256 path this tree's purgatory took in the guest.

The purgatory leaves it in one byte, ``purgatory_sha256_path`` in .data
(abi/x86_64.py).  Its guest address is the loader's ``Loaded purgatory at
0x...`` address plus the symbol's place when elf/loader.py lays the same
object out there.  The byte is read from guest memory (QEMU's ``xp``) only
at moments when that memory is known to be the purgatory's:

- the purgatory stopped in its digest-mismatch loop (its code is what the
  vCPU is executing, nothing else runs);
- a breakpoint at ``entry64`` (the hand-over to the new kernel) was hit:
  the digest was verified and nothing but the purgatory has run since the
  dispatch wrote the byte.

After the jump nothing is read: the second kernel may reuse that memory
(on the normal path all of RAM is its own; on the crash path its usable
RAM is the crashkernel region the purgatory was loaded into, see
arch/x86/kernel/crash.c, crash_setup_memmap_entries).
"""

from dataclasses import dataclass

from ..abi import x86_64 as X86
from ..elf import loader
from ..elf.reader import damaged_elf_is_user_error, parse_elf, symtab_symbols

READ_AT_HANDOVER = "at the jump to the kernel (entry64)"
READ_STOPPED = "stopped in the purgatory"


@dataclass(frozen=True)
class Addresses:
    handover: int       # entry64, where the breakpoint goes
    byte: int           # purgatory_sha256_path


class Probe:
    """This tree's purgatory (bytes of purgatory.ro) to be found in the
    guest; ``for_purgatory`` gives None for one without the byte."""

    def __init__(self, purgatory, name):
        self.purgatory = purgatory
        self.name = name

    @classmethod
    def for_purgatory(cls, purgatory, name):
        if purgatory is None:
            return None
        with damaged_elf_is_user_error(name):
            names = {sym.name for sym in
                     symtab_symbols(parse_elf(purgatory, name))}
        if not {X86.SHA256_PATH_SYMBOL,
                X86.SHA256_PATH_HANDOVER_SYMBOL} <= names:
            return None
        return cls(purgatory, name)

    def at(self, address):
        """The Addresses when the purgatory is loaded at ``address``."""
        loaded = loader.load(self.purgatory, self.name, address)
        return Addresses(
            loaded.symbol_address(X86.SHA256_PATH_HANDOVER_SYMBOL),
            loaded.symbol_address(X86.SHA256_PATH_SYMBOL))


def name_of(value):
    return (X86.SHA256_PATHS[value] if value < len(X86.SHA256_PATHS)
            else f"unknown ({value})")
