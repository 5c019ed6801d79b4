# SPDX-License-Identifier: GPL-2.0-only
"""The elf-header rule: is this an object the kernel's loader can read at all?

Checked in two steps, both before any other rule: the ELF header itself
(identity and section-table geometry), then the tables it points to
(section bounds, links, symbol and relocation indexes). Other rules trust
what this rule verified, so if it finds anything they do not run.
"""

from .. import abi
from .finding import Problem

ELF64_SHDR_SIZE = 64
ELF64_SYM_SIZE = 24
ELF64_RELA_SIZE = 24
ELF64_REL_SIZE = 16

EXPECTED_IDENTITY = (
    # (where, expected, what a kernel purgatory needs)
    (("e_ident", "EI_CLASS"), "ELFCLASS64", "a 64-bit object"),
    (("e_type",), "ET_REL", "a relocatable object (ld -r)"),
    (("e_version",), "EV_CURRENT", "ELF version 1"),
)


def _byte_order(module):
    if module is None:          # abi.NOT_YET: byte order not known here
        return None
    return "ELFDATA2LSB" if module.LITTLE_ENDIAN else "ELFDATA2MSB"


def other_byte_order(elf):
    """The name of the machine an object is, when its e_machine has a
    module here but its byte order is the other one, which that kernel
    also loads and which is not modelled (big-endian ppc64); else None."""
    module = abi.ARCHITECTURES.get(elf.header["e_machine"])
    if module is None or elf.little_endian == module.LITTLE_ENDIAN:
        return None
    return getattr(module, "OTHER_BYTE_ORDER", None)


def header_problems(elf, data):
    """The object's identity (class, type, machine, byte order), from the
    ELF header alone."""
    header = elf.header
    problems = []
    for path, expected, meaning in EXPECTED_IDENTITY:
        value = header
        for key in path:
            value = value[key]
        if value != expected:
            problems.append(Problem(f"{path[-1]} is {value}, not {expected}: "
                                    f"the kernel loads only {meaning}"))
    machine = header["e_machine"]
    module = abi.ARCHITECTURES.get(machine)
    if module is None and machine not in abi.NOT_YET:
        problems.append(Problem(abi.refusal(machine)))
    order, data_encoding = _byte_order(module), header["e_ident"]["EI_DATA"]
    if order is not None and data_encoding != order \
            and not getattr(module, "OTHER_BYTE_ORDER", None):
        endian = "little" if order == "ELFDATA2LSB" else "big"
        problems.append(Problem(f"EI_DATA is {data_encoding}, not {order}: "
                                f"the kernel loads only a {endian}-endian "
                                f"{module.NAME} object"))
    return problems


def geometry_problems(elf, data):
    """The section table's geometry: where the file is damaged (cut short,
    or its header points nowhere), not a kind of object the kernel refuses."""
    header = elf.header
    problems = []
    shnum, shoff = header["e_shnum"], header["e_shoff"]
    if header["e_shentsize"] != ELF64_SHDR_SIZE:
        problems.append(Problem(f"e_shentsize is {header['e_shentsize']}, "
                                f"not {ELF64_SHDR_SIZE}"))
    elif shnum == 0 or shoff == 0:
        problems.append(Problem("no section header table (e_shnum or e_shoff is 0)"))
    elif shoff + shnum * ELF64_SHDR_SIZE > len(data):
        problems.append(Problem(f"section header table ({shnum} entries at "
                                f"{shoff:#x}) runs past the end of the file "
                                f"({len(data)} bytes)"))
    elif header["e_shstrndx"] >= shnum:
        problems.append(Problem(f"e_shstrndx {header['e_shstrndx']} is not a "
                                f"section index (e_shnum {shnum})"))
    return problems


def table_problems(obj):
    """Section bounds and links, then symbol and relocation indexes."""
    problems = list(_section_problems(obj))
    if not problems:
        problems = list(_entry_problems(obj))
    return problems


def _section_problems(obj):
    count = len(obj.sections)
    size = len(obj.data)
    for index, sec in enumerate(obj.sections):
        label = f"section {index} '{sec.name}'"
        kind = sec["sh_type"]
        end = sec["sh_offset"] + sec["sh_size"]
        if kind not in ("SHT_NOBITS", "SHT_NULL") and end > size:
            yield Problem(f"{label} ends at {end:#x}, past the end of the file "
                          f"({size:#x})", section=sec.name)
            continue
        if kind in ("SHT_SYMTAB", "SHT_REL", "SHT_RELA"):
            entsize = {"SHT_SYMTAB": ELF64_SYM_SIZE, "SHT_RELA": ELF64_RELA_SIZE,
                       "SHT_REL": ELF64_REL_SIZE}[kind]
            if sec["sh_entsize"] != entsize:
                yield Problem(f"{label} has sh_entsize {sec['sh_entsize']}, "
                              f"not {entsize}", section=sec.name)
                continue
            link = sec["sh_link"]
            wanted = "SHT_STRTAB" if kind == "SHT_SYMTAB" else "SHT_SYMTAB"
            if link >= count or obj.sections[link]["sh_type"] != wanted:
                yield Problem(f"{label} has sh_link {link}, which is not a "
                              f"{wanted} section", section=sec.name)
        if kind in ("SHT_REL", "SHT_RELA") and not 0 < sec["sh_info"] < count:
            yield Problem(f"{label} applies to section {sec['sh_info']}, "
                          f"which does not exist", section=sec.name)


def _entry_problems(obj):
    count = len(obj.sections)
    for sym in obj.symbols:
        index = sym["st_shndx"]
        if isinstance(index, int) and index >= count:
            yield Problem(f"symbol '{sym.name}' is in section {index}, which "
                          f"does not exist", symbol=sym.name)
        elif index == "SHN_XINDEX":
            yield Problem(f"symbol '{sym.name}' uses an extended section index, "
                          f"which the kernel does not support", symbol=sym.name)
    for sec, target in obj.applied_relocation_sections():
        if sec["sh_type"] != "SHT_RELA":
            continue
        nsyms = obj.sections[sec["sh_link"]].num_symbols()
        for rel in sec.iter_relocations():
            where = f"{target.name}+{rel['r_offset']:#x}"
            if rel["r_info_sym"] >= nsyms:
                yield Problem(f"relocation at {where} uses symbol index "
                              f"{rel['r_info_sym']}, past the end of the "
                              f"symbol table ({nsyms})", section=target.name,
                              offset=rel["r_offset"])
            elif rel["r_offset"] >= target["sh_size"]:
                yield Problem(f"relocation at {where} lies outside its section "
                              f"({target['sh_size']:#x} bytes)",
                              section=target.name, offset=rel["r_offset"])
