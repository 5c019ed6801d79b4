# SPDX-License-Identifier: GPL-2.0-only
"""Load a purgatory exactly as the kernel's kexec_file loader does.

The kernel does not link the purgatory: it lays out the SHF_ALLOC sections of
the relocatable object itself, applies the RELA relocations with its own small
x86_64 relocator and pokes the ABI symbols into the result. This module
repeats those steps, with the kernel's rules and its error wording, so that a
purgatory the kernel would refuse is refused here, and one it would load ends
up byte for byte the way the kernel would place it at a given address.
"""

import struct
from dataclasses import dataclass

from elftools.elf.constants import SH_FLAGS
from elftools.elf.enums import ENUM_RELOC_TYPE_x64
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from .elffile import (damaged_elf_is_user_error, first_global, parse_elf,
                      symtab_symbols)
from .files import read_bytes
from .errors import UserError

PAGE_SIZE = 0x1000
# The kernel never places the purgatory below this address.
MIN_PURGATORY_ADDR = 0x3000

R_X86_64_NONE = ENUM_RELOC_TYPE_x64["R_X86_64_NONE"]
R_X86_64_64 = ENUM_RELOC_TYPE_x64["R_X86_64_64"]
R_X86_64_PC32 = ENUM_RELOC_TYPE_x64["R_X86_64_PC32"]
R_X86_64_PLT32 = ENUM_RELOC_TYPE_x64["R_X86_64_PLT32"]
R_X86_64_32 = ENUM_RELOC_TYPE_x64["R_X86_64_32"]
R_X86_64_32S = ENUM_RELOC_TYPE_x64["R_X86_64_32S"]

U64 = (1 << 64) - 1


def absolute_32_fits(rtype, value):
    """Whether S + A (a u64) passes the kernel's overflow check: it must
    zero-extend from 32 bits for R_X86_64_32, sign-extend for _32S."""
    if rtype == R_X86_64_32:
        return value <= 0xffffffff
    return value < 1 << 31 or value >= (1 << 64) - (1 << 31)


class LoadError(UserError):
    """The kernel would refuse this purgatory; the message is the kernel's."""

    def __init__(self, name, kernel_message, context=""):
        self.kernel_message = kernel_message
        suffix = f" ({context})" if context else ""
        super().__init__(f"{name}: {kernel_message}{suffix}")


@dataclass
class PlacedSection:
    """Where the loader put one SHF_ALLOC section."""
    index: int
    name: str
    nobits: bool
    executable: bool
    offset: int        # from the start of the loaded image
    address: int       # final address, the kernel's new sh_addr
    size: int


@dataclass
class Layout:
    """The kernel's packing of SHF_ALLOC sections (before placement)."""
    sections: list     # (index, offset) in header order
    bufsz: int         # PROGBITS part padded to the NOBITS alignment: the
                       # buffer the kernel copies
    memsz: int         # with the zero-filled NOBITS part after it
    align: int         # what the placement address must be a multiple of


def _alignment(section, name):
    """The kernel lays sections out with ALIGN(offset, sh_addralign), which
    is only right for powers of two: with 0 it restarts at offset 0, over
    the sections before. Refused here rather than copied."""
    align = section["sh_addralign"]
    if align == 0 or align & (align - 1):
        raise UserError(f"{name}: section {section.name}: alignment "
                        f"{align} is not a power of two")
    return align


def _align_up(value, align):
    return (value + align - 1) & ~(align - 1)


def compute_layout(elf, name):
    """Pack SHF_ALLOC sections as the kernel does: PROGBITS into one buffer,
    each at its own alignment, in header order; NOBITS after the buffer,
    aligned to the largest NOBITS alignment."""
    buf_sz = bss_sz = 0
    buf_align = bss_align = 1
    progbits, nobits = [], []
    for index, section in enumerate(elf.iter_sections()):
        if not section["sh_flags"] & SH_FLAGS.SHF_ALLOC:
            continue
        align = _alignment(section, name)
        if section["sh_type"] == "SHT_NOBITS":
            bss_align = max(bss_align, align)
            bss_sz = _align_up(bss_sz, align)
            nobits.append((index, bss_sz))
            bss_sz += section["sh_size"]
        else:
            buf_align = max(buf_align, align)
            buf_sz = _align_up(buf_sz, align)
            progbits.append((index, buf_sz))
            buf_sz += section["sh_size"]
    # The buffer is padded to the NOBITS alignment; NOBITS follow it.
    buf_sz = _align_up(buf_sz, bss_align)
    sections = progbits + [(i, buf_sz + off) for i, off in nobits]
    sections.sort()
    return Layout(sections=sections, bufsz=buf_sz, memsz=buf_sz + bss_sz,
                  align=max(PAGE_SIZE, buf_align, bss_align))


class LoadedPurgatory:
    """A purgatory relocated for one address: its memory image and symbols.

    ``image`` is the whole memory the purgatory occupies (its buffer followed
    by the zero-filled NOBITS part), as a bytearray that ``set_symbol``
    changes in place, as the kernel changes its purgatory buffer.
    """

    def __init__(self, name, elf, address, layout, placed, image):
        self.name = name
        self.elf = elf
        self.address = address
        self.layout = layout
        self.sections = placed          # section index -> PlacedSection
        self.image = image
        self.entry = None
        self.entry_source = None

    @property
    def end(self):
        return self.address + len(self.image)

    # Symbols, the way kexec_purgatory_find_symbol and friends see them.

    def find_symbol(self, symbol):
        """The first STB_GLOBAL symbol called ``symbol`` in any symbol table,
        or UserError if there is none or it has no section to live in."""
        with damaged_elf_is_user_error(self.name):
            sym = first_global(symtab_symbols(self.elf), symbol)
        if sym is None:
            raise UserError(f"{self.name}: symbol {symbol} not found "
                            "(only STB_GLOBAL symbols count)")
        shndx = sym["st_shndx"]
        if not isinstance(shndx, int) or shndx >= self.elf.num_sections():
            raise UserError(f"{self.name}: Symbol: {symbol} has bad "
                            f"section index {_shndx_number(shndx)}.")
        return sym

    def symbol_address(self, symbol):
        sym = self.find_symbol(symbol)
        return self._section_address(sym["st_shndx"]) + sym["st_value"]

    def _placed(self, shndx):
        placed = self.sections.get(shndx)
        if placed is None:
            section = self.elf.get_section(shndx)
            raise UserError(f"{self.name}: section {section.name} is not "
                            "loaded (not SHF_ALLOC)")
        return placed

    def _section_address(self, shndx):
        return self._placed(shndx).address

    def _symbol_offset(self, symbol, size, action):
        sym = self.find_symbol(symbol)
        if sym["st_size"] != size:
            raise LoadError(self.name, f"symbol {symbol} size mismatch: "
                            f"expected {size} actual {sym['st_size']}")
        placed = self._placed(sym["st_shndx"])
        if placed.nobits:
            raise LoadError(self.name, f"symbol {symbol} is in a bss section. "
                            f"Cannot {action}")
        return placed.offset + sym["st_value"]

    def get_symbol(self, symbol, size):
        """Read a symbol's bytes like kexec_purgatory_get_set_symbol."""
        offset = self._symbol_offset(symbol, size, "get")
        return bytes(self.image[offset:offset + size])

    def set_symbol(self, symbol, data):
        """Write a symbol's bytes like kexec_purgatory_get_set_symbol."""
        offset = self._symbol_offset(symbol, len(data), "set")
        self.image[offset:offset + len(data)] = data

    def intelhex(self):
        """The memory image as an ``intelhex.IntelHex`` at its address."""
        from intelhex import IntelHex
        ih = IntelHex()
        ih.frombytes(bytes(self.image), offset=self.address)
        return ih


def _shndx_number(shndx):
    return {"SHN_UNDEF": 0, "SHN_ABS": 0xfff1, "SHN_COMMON": 0xfff2}.get(shndx, shndx)


def _place_sections(elf, layout, address):
    placed = {}
    for index, offset in layout.sections:
        section = elf.get_section(index)
        placed[index] = PlacedSection(
            index=index, name=section.name,
            nobits=section["sh_type"] == "SHT_NOBITS",
            executable=bool(section["sh_flags"] & SH_FLAGS.SHF_EXECINSTR),
            offset=offset, address=address + offset, size=section["sh_size"])
    return placed


def _fill_image(elf, layout, placed, name):
    image = bytearray(layout.memsz)
    for section in placed.values():
        if section.nobits:
            continue
        data = elf.get_section(section.index).data()
        if len(data) != section.size:
            raise UserError(f"{name}: section {section.name} is truncated")
        image[section.offset:section.offset + section.size] = data
    return image


class _Relocator:
    """Applies RELA sections with the kernel's x86_64 semantics."""

    def __init__(self, loaded):
        self.loaded = loaded
        self.elf = loaded.elf
        self.name = loaded.name

    def apply_all(self):
        count = self.elf.num_sections()
        for section in self.elf.iter_sections():
            if section["sh_type"] not in ("SHT_RELA", "SHT_REL"):
                continue
            target, link = section["sh_info"], section["sh_link"]
            if target >= count or link >= count:
                raise UserError(f"{self.name}: {section.name}: bad sh_info "
                                f"{target} or sh_link {link}")
            if not self.elf.get_section(target)["sh_flags"] & SH_FLAGS.SHF_ALLOC:
                continue
            if section["sh_type"] == "SHT_REL":
                raise LoadError(self.name, "REL relocation unsupported",
                                f"section {section.name}")
            self.apply(section, self.loaded.sections[target])

    def apply(self, relsec, target):
        symtab = self.elf.get_section(relsec["sh_link"])
        if not isinstance(symtab, SymbolTableSection) or not isinstance(relsec, RelocationSection):
            raise UserError(f"{self.name}: {relsec.name}: not a relocation "
                            "section with a symbol table")
        if target.nobits:
            raise UserError(f"{self.name}: {relsec.name} relocates "
                            f"{target.name}, a NOBITS section")
        for rel in relsec.iter_relocations():
            self.apply_one(rel, symtab, relsec, target)

    def symbol_value(self, sym_index, symtab):
        sym = symtab.get_symbol(sym_index)
        shndx = sym["st_shndx"]
        name = sym.name
        if not sym["st_name"] and isinstance(shndx, int) and shndx < self.elf.num_sections():
            name = self.elf.get_section(shndx).name
        if shndx == "SHN_UNDEF":
            raise LoadError(self.name, f"Undefined symbol: {name}")
        if shndx == "SHN_COMMON":
            raise LoadError(self.name, f"symbol '{name}' in common section")
        if shndx == "SHN_ABS":
            base = 0
        elif not isinstance(shndx, int) or shndx >= self.elf.num_sections():
            raise LoadError(self.name, f"Invalid section {_shndx_number(shndx)} "
                            f"for symbol {name}")
        else:
            base = self.loaded._section_address(shndx)
        return sym["st_value"] + base

    def apply_one(self, rel, symtab, relsec, target):
        rtype = rel["r_info_type"]
        offset, addend = rel["r_offset"], rel["r_addend"]
        # The kernel resolves the symbol before it looks at the type: an
        # undefined one (index 0 too) fails even an R_X86_64_NONE.
        value = (self.symbol_value(rel["r_info_sym"], symtab) + addend) & U64
        if rtype == R_X86_64_NONE:
            return
        place = target.address + offset
        where = f"{relsec.name} offset {offset:#x}"
        if rtype == R_X86_64_64:
            data = struct.pack("<Q", value)
        elif rtype in (R_X86_64_32, R_X86_64_32S):
            if not absolute_32_fits(rtype, value):
                self.overflow(rtype, value, where)
            data = struct.pack("<I", value & 0xffffffff)
        elif rtype in (R_X86_64_PC32, R_X86_64_PLT32):
            data = struct.pack("<I", (value - place) & 0xffffffff)
        else:
            raise LoadError(self.name, f"Unknown rela relocation: {rtype}", where)
        if offset + len(data) > target.size:
            raise UserError(f"{self.name}: {where} lies outside {target.name}")
        start = target.offset + offset
        self.loaded.image[start:start + len(data)] = data

    def overflow(self, rtype, value, where):
        raise LoadError(self.name, f"Overflow in relocation type {rtype} "
                        f"value {value:#x}", f"{where}, loaded at "
                        f"{self.loaded.address:#x}")


ENTRY_FROM_SYMBOL = "purgatory_start"
ENTRY_FROM_E_ENTRY = "e_entry"


def _entry_from_e_entry(loaded):
    """Older kernels: the first executable section containing e_entry."""
    e_entry = loaded.elf.header["e_entry"]
    for placed in sorted(loaded.sections.values(), key=lambda s: s.index):
        section = loaded.elf.get_section(placed.index)
        start = section["sh_addr"]
        if placed.executable and not placed.nobits and start <= e_entry < start + placed.size:
            return placed.address + e_entry - start, f"e_entry in {placed.name}"
    raise UserError(f"{loaded.name}: e_entry {e_entry:#x} lies in no "
                    "executable section")


def _entry_from_symbol(loaded):
    """Kernels since 2026: purgatory_start, but only where it lies inside a
    loaded executable section; anywhere else they ignore it."""
    try:
        sym = loaded.find_symbol("purgatory_start")
    except UserError:
        return None
    placed = loaded.sections.get(sym["st_shndx"])
    if placed is None or not placed.executable or placed.nobits \
            or sym["st_value"] >= placed.size:
        return None
    return placed.address + sym["st_value"], "purgatory_start"


def _find_entry(loaded, entry_from):
    if entry_from == ENTRY_FROM_SYMBOL:
        entry = _entry_from_symbol(loaded)
        if entry is not None:
            return entry
    return _entry_from_e_entry(loaded)


def check_address(name, address, layout):
    if address % layout.align:
        raise UserError(f"{name}: load address {address:#x} is not a multiple "
                        f"of {layout.align:#x} (page size and section alignment)")
    if address < MIN_PURGATORY_ADDR:
        raise UserError(f"{name}: load address {address:#x} is below "
                        f"{MIN_PURGATORY_ADDR:#x}, where the kernel never "
                        "places a purgatory")
    if address + layout.memsz > 1 << 64:
        raise UserError(f"{name}: load address {address:#x} leaves no room "
                        f"for {layout.memsz:#x} bytes")


def load(data, name, address, entry_from=ENTRY_FROM_SYMBOL):
    """Lay out, place at ``address`` and relocate the purgatory in ``data``.

    ``entry_from`` is ``"purgatory_start"`` (kernels since 2026: the global
    symbol, falling back to e_entry) or ``"e_entry"`` (older kernels).
    """
    elf = parse_elf(data, name)
    with damaged_elf_is_user_error(name):
        if elf.header["e_type"] != "ET_REL" or elf.header["e_machine"] != "EM_X86_64" \
                or elf.elfclass != 64 or not elf.little_endian:
            raise UserError(f"{name}: not an x86_64 relocatable ELF object")
        layout = compute_layout(elf, name)
        check_address(name, address, layout)
        placed = _place_sections(elf, layout, address)
        image = _fill_image(elf, layout, placed, name)
        loaded = LoadedPurgatory(name, elf, address, layout, placed, image)
        _Relocator(loaded).apply_all()
        loaded.entry, loaded.entry_source = _find_entry(loaded, entry_from)
    return loaded


def load_file(path, address, entry_from=ENTRY_FROM_SYMBOL):
    return load(read_bytes(path), path, address, entry_from)
