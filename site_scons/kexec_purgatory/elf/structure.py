# SPDX-License-Identifier: GPL-2.0-only
"""Can this object's tables be walked at all? One answer for every command.

Sizes and offsets are checked against the file and against sane limits
before anything is read or allocated from them: the section table and
every section inside the file, the tables' entry sizes and links, every
symbol's section index, every applied relocation's symbol index and the
bytes it patches, and the loaded image no larger than ``MAX_LOADED_SIZE``.
The checker reports these flaws as its ``elf-header`` rule; the loader,
the emulator and ``diff`` refuse the object with the first one
(``require_sound``), so what one command can use, all can.
"""

from dataclasses import dataclass
from typing import Optional

from elftools.elf.constants import SH_FLAGS

from .. import abi
from ..errors import UserError

# pyelftools' structs of the object's class give the entry sizes
ENTRY_STRUCTS = {"SHT_SYMTAB": "Elf_Sym", "SHT_RELA": "Elf_Rela",
                 "SHT_REL": "Elf_Rel"}
LINKED_TYPE = {"SHT_SYMTAB": "SHT_STRTAB", "SHT_RELA": "SHT_SYMTAB",
               "SHT_REL": "SHT_SYMTAB"}

# Real purgatories load as 16 to 40 KiB; the kernel sets no limit, but a
# "purgatory" of more than this is a damaged size, and refusing it keeps
# every command's memory bounded (the loaded image is held in memory).
MAX_LOADED_SIZE = 16 << 20
# Real purgatories have hundreds of symbols and relocations (a build with
# debug information some thousands more, in .rela.debug_*); more than this
# is not a purgatory, and refusing it keeps every command's memory bounded:
# each entry read is held (about 1 KiB in pyelftools' form, elf/reader.py).
MAX_ENTRIES = {"symbols": 1 << 16, "relocations": 1 << 17}
ENTRY_KINDS = {"SHT_SYMTAB": "symbols", "SHT_RELA": "relocations",
               "SHT_REL": "relocations"}


@dataclass(frozen=True)
class Flaw:
    """Why the object cannot be walked, and where."""
    message: str
    section: Optional[str] = None
    symbol: Optional[str] = None
    offset: Optional[int] = None


def geometry_flaws(elf, data):
    """The section header table from the ELF header alone."""
    header = elf.header
    shnum, shoff = header["e_shnum"], header["e_shoff"]
    entsize = elf.structs.Elf_Shdr.sizeof()
    if header["e_shentsize"] != entsize:
        return [Flaw(f"e_shentsize is {header['e_shentsize']}, not {entsize}")]
    if shnum == 0 or shoff == 0:
        return [Flaw("no section header table (e_shnum or e_shoff is 0)")]
    if shoff + shnum * entsize > len(data):
        return [Flaw(f"section header table ({shnum} entries at {shoff:#x}) "
                     f"runs past the end of the file ({len(data)} bytes)")]
    if header["e_shstrndx"] >= shnum:
        return [Flaw(f"e_shstrndx {header['e_shstrndx']} is not a section "
                     f"index (e_shnum {shnum})")]
    return []


def section_label(index, section):
    return f"section {index} '{section.name}'"


def section_flaws(elf, data):
    """Every section inside the file, its table's entry size and links."""
    sections = list(elf.iter_sections())
    count = len(sections)
    entries = dict.fromkeys(MAX_ENTRIES, 0)
    for index, sec in enumerate(sections):
        label = section_label(index, sec)
        kind = sec["sh_type"]
        end = sec["sh_offset"] + sec["sh_size"]
        if kind not in ("SHT_NOBITS", "SHT_NULL") and end > len(data):
            yield Flaw(f"{label} ends at {end:#x}, past the end of the file "
                       f"({len(data):#x})", section=sec.name)
            continue
        if sec["sh_flags"] & SH_FLAGS.SHF_COMPRESSED:
            # The kernel copies a section's bytes as they are in the file
            # (kexec_purgatory_setup_sechdrs(), kernel/kexec_file.c).
            yield Flaw(f"{label} is compressed (SHF_COMPRESSED): the kernel "
                       "loads section bytes as they are", section=sec.name)
            continue
        if kind in ENTRY_STRUCTS:
            entsize = getattr(elf.structs, ENTRY_STRUCTS[kind]).sizeof()
            if sec["sh_entsize"] != entsize:
                yield Flaw(f"{label} has sh_entsize {sec['sh_entsize']}, not "
                           f"{entsize}", section=sec.name)
                continue
            what = ENTRY_KINDS[kind]
            entries[what] += sec["sh_size"] // entsize
            if entries[what] > MAX_ENTRIES[what]:
                yield Flaw(f"{label} takes the object to {entries[what]} "
                           f"{what}, over the {MAX_ENTRIES[what]} a purgatory "
                           f"may have", section=sec.name)
                continue
            link = sec["sh_link"]
            if link >= count or sections[link]["sh_type"] != LINKED_TYPE[kind]:
                yield Flaw(f"{label} has sh_link {link}, which is not a "
                           f"{LINKED_TYPE[kind]} section", section=sec.name)
        if kind in ("SHT_REL", "SHT_RELA") and not 0 < sec["sh_info"] < count:
            yield Flaw(f"{label} applies to section {sec['sh_info']}, which "
                       f"does not exist", section=sec.name)


def loaded_size_flaws(elf):
    """The memory the kernel's layout asks for, without computing it in
    full (a damaged alignment or size could ask for 2^64 bytes)."""
    total = 0
    for index, sec in enumerate(elf.iter_sections()):
        if not sec["sh_flags"] & SH_FLAGS.SHF_ALLOC:
            continue
        total += sec["sh_size"] + min(sec["sh_addralign"], 1 << 64)
        if total > MAX_LOADED_SIZE:
            return [Flaw(f"{section_label(index, sec)}: the loaded sections "
                         f"reach {total:#x} bytes with its sh_size "
                         f"{sec['sh_size']:#x} and sh_addralign "
                         f"{sec['sh_addralign']:#x}, over the "
                         f"{MAX_LOADED_SIZE >> 20} MiB a purgatory may take",
                         section=sec.name)]
    return []


def applied_relocation_sections(elf):
    """(relocation section, target) pairs the kernel processes: those whose
    target is SHF_ALLOC (kernel/kexec_file.c, kexec_apply_relocations()).
    Call only on an object without section flaws."""
    for sec in elf.iter_sections():
        if sec["sh_type"] not in ("SHT_REL", "SHT_RELA"):
            continue
        target = elf.get_section(sec["sh_info"])
        if target["sh_flags"] & SH_FLAGS.SHF_ALLOC:
            yield sec, target


def entry_flaws(elf):
    """Symbols' section indexes; applied relocations' symbol indexes and
    the bytes they patch (the ABI's width of the type) inside the target."""
    count = elf.num_sections()
    for table in elf.iter_sections():
        if table["sh_type"] != "SHT_SYMTAB":
            continue
        for number, sym in enumerate(table.iter_symbols()):
            index = sym["st_shndx"]
            what = f"symbol {number} '{sym.name}' of {table.name}"
            if isinstance(index, int) and index >= count:
                yield Flaw(f"{what} is in section {index}, which does not "
                           f"exist", symbol=sym.name)
            elif index == "SHN_XINDEX":
                yield Flaw(f"{what} uses an extended section index, which "
                           f"the kernel does not support", symbol=sym.name)
    module = abi.ARCHITECTURES.get(elf.header["e_machine"])
    types = getattr(module, "RELOCATIONS", {})
    for sec, target in applied_relocation_sections(elf):
        if sec["sh_type"] != "SHT_RELA":
            continue
        nsyms = elf.get_section(sec["sh_link"]).num_symbols()
        size = target["sh_size"]
        for number, rel in enumerate(sec.iter_relocations()):
            offset = rel["r_offset"]
            where = f"relocation {number} of {sec.name} ({target.name}+{offset:#x})"
            rtype = types.get(rel["r_info_type"])
            width = rtype.width if rtype is not None else 1
            if rel["r_info_sym"] >= nsyms:
                yield Flaw(f"{where} uses symbol index {rel['r_info_sym']}, "
                           f"past the end of the symbol table ({nsyms})",
                           section=target.name, offset=offset)
            elif target["sh_type"] != "SHT_NOBITS" and offset + max(width, 1) > size:
                yield Flaw(f"{where} patches {max(width, 1)} bytes outside "
                           f"its section ({size:#x} bytes)",
                           section=target.name, offset=offset)


def table_flaws(elf, data):
    """After the geometry: the flaws of the first step that has any
    (sections and the loaded size, then entries), later steps trusting
    the earlier ones."""
    found = list(section_flaws(elf, data)) or loaded_size_flaws(elf)
    return found or list(entry_flaws(elf))


def flaws(elf, data):
    """The flaws of the first step that has any: the geometry, then the
    tables (``table_flaws``)."""
    return geometry_flaws(elf, data) or table_flaws(elf, data)


def require_sound(elf, data, name):
    """UserError naming ``name`` and the first flaw, if there is one."""
    found = flaws(elf, data)
    if found:
        raise UserError(f"{name}: {found[0].message}")
