# SPDX-License-Identifier: GPL-2.0-only
"""Load a purgatory exactly as the kernel's kexec_file loader does.

The kernel does not link the purgatory: it lays out the SHF_ALLOC sections of
the relocatable object itself, applies the RELA relocations with its own small
x86_64 relocator and pokes the ABI symbols into the result. This module
repeats those steps, with the kernel's rules and its error wording, so that a
purgatory the kernel would refuse is refused here, and one it would load ends
up byte for byte the way the kernel would place it at a given address.
"""

from dataclasses import dataclass

from elftools.elf.constants import SH_FLAGS
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from .. import abi
from ..errors import UserError
from ..files import read_bytes
from .layout import compute_layout
from .structure import applied_relocation_sections, require_sound
from .symbols import (nobits_target_problem, outside_section_problem,
                      unloaded_section_problem)
from .reader import (damaged_elf_is_user_error, first_global, parse_elf,
                     symtab_symbols)


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


class LoadedPurgatory:
    """A purgatory relocated for one address: its memory image and symbols.

    ``image`` is the whole memory the purgatory occupies (its buffer followed
    by the zero-filled NOBITS part), as a bytearray that ``set_symbol``
    changes in place, as the kernel changes its purgatory buffer. ``abi``
    is the contract module of the object's machine.
    """

    def __init__(self, name, elf, abi_module, address, layout, placed, image):
        self.name = name
        self.elf = elf
        self.abi = abi_module
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
        """Where the kernel says ``symbol`` is (kexec_purgatory_get_symbol_addr)."""
        sym = self.find_symbol(symbol)
        self._refuse_wrong_place(sym, 0)
        return self.sections[sym["st_shndx"]].address + sym["st_value"]

    def _refuse_wrong_place(self, sym, size):
        """UserError where the kernel would use the symbol's ``size`` bytes
        at a place that is not in the purgatory (elf/symbols.py)."""
        section = self.elf.get_section(sym["st_shndx"])
        problem = (unloaded_section_problem(section, sym)
                   or outside_section_problem(section, sym, size))
        if problem:
            raise UserError(f"{self.name}: symbol {problem}")

    def _symbol_offset(self, symbol, size, action):
        sym = self.find_symbol(symbol)
        if sym["st_size"] != size:
            raise LoadError(self.name, f"symbol {symbol} size mismatch: "
                            f"expected {size} actual {sym['st_size']}")
        section = self.elf.get_section(sym["st_shndx"])
        if section["sh_type"] == "SHT_NOBITS":
            raise LoadError(self.name, f"symbol {symbol} is in a bss section. "
                            f"Cannot {action}")
        self._refuse_wrong_place(sym, size)
        return self.sections[sym["st_shndx"]].offset + sym["st_value"]

    def get_symbol(self, symbol, size):
        """Read a symbol's bytes like kexec_purgatory_get_set_symbol."""
        offset = self._symbol_offset(symbol, size, "get")
        return bytes(self.image[offset:offset + size])

    def set_symbol(self, symbol, data):
        """Write a symbol's bytes like kexec_purgatory_get_set_symbol."""
        offset = self._symbol_offset(symbol, len(data), "set")
        self.image[offset:offset + len(data)] = data


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
    """Applies RELA sections with the semantics of the ABI's relocator
    (arch/x86/kernel/machine_kexec_64.c, arch_kexec_apply_relocations_add());
    where the architecture has none (powerpc), refuses them as the kernel's
    default does."""

    def __init__(self, loaded):
        self.loaded = loaded
        self.elf = loaded.elf
        self.name = loaded.name
        self.types = loaded.abi.RELOCATIONS

    def apply_all(self):
        """Every relocation section the kernel processes (the object passed
        ``require_sound``: its links and targets exist)."""
        for section, target in applied_relocation_sections(self.elf):
            if section["sh_type"] == "SHT_REL":
                raise LoadError(self.name, "REL relocation unsupported",
                                f"section {section.name}")
            if not getattr(self.loaded.abi, "RELA_APPLIED", True):
                # powerpc: include/linux/kexec.h's default
                # arch_kexec_apply_relocations_add() refuses every RELA
                # section, before looking at a single entry.
                raise LoadError(self.name, self.loaded.abi.RELA_REFUSED_MESSAGE,
                                f"section {section.name} relocating "
                                f"{target.name}")
            self.apply(section, self.loaded.sections[section["sh_info"]])

    def apply(self, relsec, target):
        symtab = self.elf.get_section(relsec["sh_link"])
        if not isinstance(symtab, SymbolTableSection) or not isinstance(relsec, RelocationSection):
            raise UserError(f"{self.name}: {relsec.name}: not a relocation "
                            "section with a symbol table")
        problem = nobits_target_problem(relsec, self.elf.get_section(target.index))
        if problem:
            raise UserError(f"{self.name}: {problem}")
        for number, rel in enumerate(relsec.iter_relocations()):
            self.apply_one(rel, symtab, relsec, target, number)

    def symbol_value(self, sym_index, symtab, where):
        sym = symtab.get_symbol(sym_index)
        shndx = sym["st_shndx"]
        name = sym.name
        if not sym["st_name"] and isinstance(shndx, int) and shndx < self.elf.num_sections():
            name = self.elf.get_section(shndx).name
        if not getattr(self.loaded.abi, "UNDEFINED_SYMBOLS_REFUSED", True):
            # riscv: no UNDEF or COMMON check; UNDEF (0) takes section 0's
            # sh_addr, 0; COMMON (0xfff2) fails as an invalid section.
            if shndx == "SHN_UNDEF":
                return sym["st_value"]
        elif shndx == "SHN_UNDEF":
            raise LoadError(self.name, f"Undefined symbol: {name}", where)
        elif shndx == "SHN_COMMON":
            raise LoadError(self.name, f"symbol '{name}' in common section", where)
        if shndx == "SHN_ABS":
            base = 0
        elif not isinstance(shndx, int) or shndx >= self.elf.num_sections():
            raise LoadError(self.name, f"Invalid section {_shndx_number(shndx)} "
                            f"for symbol {name}", where)
        else:
            if shndx not in self.loaded.sections:
                problem = unloaded_section_problem(self.elf.get_section(shndx),
                                                   sym, name)
                raise UserError(f"{self.name}: {where}: symbol {problem}")
            base = self.loaded.sections[shndx].address
        return sym["st_value"] + base

    def apply_one(self, rel, symtab, relsec, target, index):
        number = rel["r_info_type"]
        offset, addend = rel["r_offset"], rel["r_addend"]
        where = f"relocation {index} of {relsec.name}, at {target.name}+{offset:#x}"
        # The kernel resolves the symbol before it looks at the type: an
        # undefined one (index 0 too) fails even an R_X86_64_NONE.
        value = (self.symbol_value(rel["r_info_sym"], symtab, where)
                 + addend) & self.loaded.abi.U64
        rtype = self.types.get(number)
        if rtype is None:
            raise LoadError(self.name, f"Unknown rela relocation: {number}", where)
        if not rtype.width:
            return
        if offset + rtype.width > target.size:
            raise UserError(f"{self.name}: {where} lies outside {target.name}")
        if not rtype.apply(self.loaded.image, target.offset + offset, value,
                           target.address + offset):
            raise LoadError(self.name, f"Overflow in relocation type {number} "
                            f"value {value:#x}", f"{where}, loaded at "
                            f"{self.loaded.address:#x}")


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
    """Kernels with the entry-symbol lookup (Linux 7.2, and Debian's
    6.1.192 and 6.12.117): the entry symbol, but only where it lies inside
    a loaded executable section; anywhere else they ignore it."""
    try:
        sym = loaded.find_symbol(loaded.abi.ENTRY_SYMBOL)
    except UserError:
        return None
    placed = loaded.sections.get(sym["st_shndx"])
    if placed is None or not placed.executable or placed.nobits \
            or sym["st_value"] >= placed.size:
        return None
    return placed.address + sym["st_value"], loaded.abi.ENTRY_SYMBOL


def _find_entry(loaded, entry_from):
    if entry_from == loaded.abi.ENTRY_FROM_SYMBOL:
        entry = _entry_from_symbol(loaded)
        if entry is not None:
            return entry
    return _entry_from_e_entry(loaded)


def check_address(name, address, layout, abi_module):
    if address % layout.align:
        raise UserError(f"{name}: load address {address:#x} is not a multiple "
                        f"of {layout.align:#x} (page size and section alignment)")
    if address < abi_module.MIN_LOAD_ADDRESS:
        raise UserError(f"{name}: load address {address:#x} is below "
                        f"{abi_module.MIN_LOAD_ADDRESS:#x}, where the kernel "
                        "never places a purgatory")
    if address + layout.memsz > 1 << 64:
        raise UserError(f"{name}: load address {address:#x} leaves no room "
                        f"for {layout.memsz:#x} bytes")


def machine_abi(elf, name):
    """The ABI module of a relocatable object, or UserError saying why
    this is not an object the kernel's loader takes."""
    header = elf.header
    if header["e_type"] != "ET_REL":
        raise UserError(f"{name}: not a relocatable ELF object (e_type "
                        f"{header['e_type']})")
    module = abi.for_machine(header["e_machine"], name)
    if elf.elfclass != module.ELF_CLASS or elf.little_endian != module.LITTLE_ENDIAN:
        raise UserError(f"{name}: not a {module.ELF_CLASS}-bit "
                        f"{'little' if module.LITTLE_ENDIAN else 'big'}-endian "
                        f"{module.NAME} object")
    return module


def load(data, name, address, entry_from=abi.x86_64.ENTRY_FROM_SYMBOL):
    """Lay out, place at ``address`` and relocate the purgatory in ``data``.

    ``entry_from`` is ``"purgatory_start"`` (Linux 7.2, Debian's 6.1.192
    and 6.12.117: the global symbol, falling back to e_entry) or ``"e_entry"`` (older kernels).
    """
    return load_parsed(parse_elf(data, name), data, name, address, entry_from)


def load_parsed(elf, data, name, address, entry_from=abi.x86_64.ENTRY_FROM_SYMBOL):
    """``load`` of ``data`` already parsed as ``elf`` (``parse_elf``): one
    object placed at several addresses is parsed once."""
    with damaged_elf_is_user_error(name):
        module = machine_abi(elf, name)
        require_sound(elf, data, name)
        layout = compute_layout(elf, name, module.PAGE_SIZE)
        check_address(name, address, layout, module)
        placed = _place_sections(elf, layout, address)
        image = _fill_image(elf, layout, placed, name)
        loaded = LoadedPurgatory(name, elf, module, address, layout, placed, image)
        _Relocator(loaded).apply_all()
        loaded.entry, loaded.entry_source = _find_entry(loaded, entry_from)
    return loaded


def load_file(path, address, entry_from=abi.x86_64.ENTRY_FROM_SYMBOL):
    return load(read_bytes(path), path, address, entry_from)
