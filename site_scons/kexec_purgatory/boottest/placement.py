# SPDX-License-Identifier: GPL-2.0-only
"""Where in the purgatory a stopped vCPU's RIP is.

The loader's debug line ``Loaded purgatory at 0x...`` (arch/x86/kernel/
kexec-bzimage64.c, bzImage64_load) gives the address of the buffer the
kernel laid the purgatory out in; elf/loader.py lays the same object out
the same way at that address, so the RIP falls in one of its sections, and
the nearest symbol at or below it in that section names the code.  The
purgatory runs identity-mapped, so RIP is also its physical address.
"""

import re
from dataclasses import dataclass

from ..elf import loader
from ..elf.reader import damaged_elf_is_user_error, symtab_symbols

# arch/x86/kernel/kexec-bzimage64.c, bzImage64_load(): the loader's debug
# lines (pr_debug; kexec_dprintk in 6.12) saying where it put each.
LOADED_PURGATORY = re.compile(r"Loaded purgatory at 0x([0-9a-fA-F]+)")
LOADED_KERNEL = re.compile(r"Loaded 64bit kernel at 0x([0-9a-fA-F]+)")


@dataclass(frozen=True)
class Placement:
    offset: int             # from the purgatory's load address
    section: str
    symbol: str | None
    symbol_offset: int

    def text(self):
        where = self.symbol or self.section
        if self.symbol and self.symbol_offset:
            where += f"+{self.symbol_offset:#x}"
        return f"+{self.offset:#x} ({where})"


def _nearest_symbol(elf, index, offset):
    best = None
    for sym in symtab_symbols(elf):
        if (sym["st_shndx"] != index or not sym.name
                or sym["st_info"]["type"] in ("STT_SECTION", "STT_FILE")
                or sym["st_value"] > offset):
            continue
        if best is None or sym["st_value"] > best["st_value"] or (
                sym["st_value"] == best["st_value"]
                and sym["st_info"]["bind"] == "STB_GLOBAL"):
            best = sym
    return best


def place(purgatory, name, address, rip):
    """The Placement of ``rip`` in the purgatory ``purgatory`` (bytes of
    purgatory.ro) loaded at ``address``, or None if RIP is outside it."""
    loaded = loader.load(purgatory, name, address)
    if not loaded.address <= rip < loaded.end:
        return None
    for placed in loaded.sections.values():
        if placed.address <= rip < placed.address + max(placed.size, 1):
            offset = rip - placed.address
            with damaged_elf_is_user_error(name):
                sym = _nearest_symbol(loaded.elf, placed.index, offset)
            return Placement(rip - address, placed.name,
                             sym.name if sym else None,
                             offset - sym["st_value"] if sym else offset)
    return Placement(rip - address, "(between sections)", None, 0)
