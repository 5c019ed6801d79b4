# SPDX-License-Identifier: GPL-2.0-only
"""A relocatable object as the kernel's purgatory loader sees it.

Parses the sections, symbols and applied relocations once (with pyelftools)
so that every rule reads the same view. The kernel only applies relocation
sections whose target section is SHF_ALLOC, so only those are collected.
"""

from __future__ import annotations

import dataclasses
import functools

from elftools.elf.constants import SH_FLAGS

from .. import abi
from ..elf import structure
from ..elf.reader import first_global, symtab_symbols

SHF_ALLOC = SH_FLAGS.SHF_ALLOC
SHF_EXECINSTR = SH_FLAGS.SHF_EXECINSTR
SHF_WRITE = SH_FLAGS.SHF_WRITE

@dataclasses.dataclass(frozen=True)
class Relocation:
    """One RELA entry applied by the kernel, with names resolved."""

    section: str        # the section patched (the RELA section's target)
    offset: int         # r_offset inside that section
    type: int
    symbol: object      # pyelftools Symbol
    symbol_name: str    # the symbol's name, or its section's name
    addend: int = 0
    abi: object = abi.x86_64    # the contract module that names the type

    @property
    def type_name(self):
        return self.abi.relocation_name(self.type)

    def where(self):
        return f"{self.section}+{self.offset:#x}"


class ElfObject:
    """A parsed object; construct it only after the header rule passed."""

    simd = "none"       # the checker's --simd mode (check_elf sets it)

    def __init__(self, elf, data, name):
        self.elf = elf
        self.data = data
        self.name = name
        self.abi = abi.for_machine(elf.header["e_machine"], name)
        self.sections = list(elf.iter_sections())

    def has_flags(self, section, flags):
        return section["sh_flags"] & flags == flags

    @functools.cached_property
    def loaded_sections(self):
        return [s for s in self.sections if self.has_flags(s, SHF_ALLOC)]

    @functools.cached_property
    def exec_sections(self):
        """Executable sections the kernel would load, in header order."""
        return [s for s in self.loaded_sections
                if self.has_flags(s, SHF_EXECINSTR)]

    @functools.cached_property
    def symtabs(self):
        return [s for s in self.sections if s["sh_type"] == "SHT_SYMTAB"]

    @functools.cached_property
    def symbols(self):
        """Every symbol of every SHT_SYMTAB, in the order the kernel scans them."""
        return symtab_symbols(self.elf)

    def section_of(self, symbol):
        """The section a symbol is defined in, or None (UNDEF, ABS, COMMON...)."""
        index = symbol["st_shndx"]
        if isinstance(index, int) and 0 < index < len(self.sections):
            return self.sections[index]
        return None

    def find_global(self, name):
        """The symbol the kernel's lookup finds: the first STB_GLOBAL match."""
        return first_global(self.symbols, name)

    def applied_relocation_sections(self):
        """(relocation section, target section) pairs the kernel processes."""
        return structure.applied_relocation_sections(self.elf)

    @functools.cached_property
    def relocations(self):
        """Every RELA entry the kernel applies, as Relocation records."""
        result = []
        for sec, target in self.applied_relocation_sections():
            if sec["sh_type"] != "SHT_RELA":
                continue
            symtab = self.sections[sec["sh_link"]]
            for rel in sec.iter_relocations():
                sym = symtab.get_symbol(rel["r_info_sym"])
                name = sym.name
                if not name and sym["st_info"]["type"] == "STT_SECTION":
                    owner = self.section_of(sym)
                    name = owner.name if owner is not None else ""
                result.append(Relocation(target.name, rel["r_offset"],
                                         rel["r_info_type"], sym, name,
                                         rel["r_addend"], self.abi))
        return result
