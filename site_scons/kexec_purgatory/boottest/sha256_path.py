# SPDX-License-Identifier: GPL-2.0-only
"""Which SHA-256 path this tree's purgatory took in the guest.

The purgatory leaves it in one byte, ``purgatory_sha256_path`` in .data
(abi/x86_64.py).  Its guest address is the loader's ``Loaded purgatory at
0x...`` address plus the symbol's place when elf/loader.py lays the same
object out there.  The byte is read from guest memory (QEMU's ``xp``) only
at moments when that memory is known to be the purgatory's:

- the purgatory stopped in its digest-mismatch loop: its code is what the
  vCPU is executing, nothing else runs;
- a breakpoint at the new kernel's first instruction was hit (the load
  address from the loader's ``Loaded 64bit kernel at 0x...`` line + 0x200,
  arch/x86/kernel/kexec-bzimage64.c, bzImage64_load) and the purgatory's own
  ``entry64_regs.rip``, read at its address, names that instruction: the
  purgatory verified the digest and jumped there, and nothing else has run
  since it wrote the byte.  (Not a breakpoint in the purgatory itself: QEMU
  7.2's TCG runs every instruction on a page holding a breakpoint as its
  own translation block; with one at entry64 the generic hash, on the same
  page, was still running at the 60 s timeout instead of taking about 1 s.)

After that nothing is read: the second kernel may reuse the memory.  On the
normal path all of RAM is its own; on the crash path its usable RAM is the
crashkernel region the purgatory was loaded into, less only the ELF core
headers (arch/x86/kernel/crash.c, crash_setup_memmap_entries and
memmap_exclude_ranges).
"""

from dataclasses import dataclass

from ..abi import x86_64 as X86
from ..elf import loader
from ..elf.reader import damaged_elf_is_user_error, parse_elf, symtab_symbols
from .placement import LOADED_KERNEL, LOADED_PURGATORY

READ_AT_HANDOVER = "at the new kernel's entry"
READ_STOPPED = "stopped in the purgatory"
RIP_SLOT = 8 * X86.ENTRY64_REGISTERS.index("rip")


@dataclass(frozen=True)
class Addresses:
    handover: int       # the new kernel's entry, where the breakpoint goes
    rip_slot: int       # the purgatory's entry64_regs.rip
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
        if not {X86.SHA256_PATH_SYMBOL, X86.REGISTERS_SYMBOL} <= names:
            return None
        return cls(purgatory, name)

    def find(self, log_text):
        """The Addresses once both loader lines are in ``log_text``, else
        None."""
        purgatory = LOADED_PURGATORY.search(log_text)
        kernel = LOADED_KERNEL.search(log_text)
        if purgatory is None or kernel is None:
            return None
        loaded = loader.load(self.purgatory, self.name,
                             int(purgatory.group(1), 16))
        return Addresses(
            int(kernel.group(1), 16) + X86.KERNEL_ENTRY_OFFSET,
            loaded.symbol_address(X86.REGISTERS_SYMBOL) + RIP_SLOT,
            loaded.symbol_address(X86.SHA256_PATH_SYMBOL))


def name_of(value):
    return (X86.SHA256_PATHS[value] if value < len(X86.SHA256_PATHS)
            else f"unknown ({value})")
