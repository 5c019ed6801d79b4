# SPDX-License-Identifier: GPL-2.0-only
"""The elf-header rule: is this an object the kernel's loader can read at all?

Checked in two steps, both before any other rule: the ELF header itself
(identity and section-table geometry), then the tables it points to
(section bounds, links, symbol and relocation indexes). Other rules trust
what this rule verified, so if it finds anything they do not run.
"""

from .. import abi
from ..elf import structure
from .finding import Problem


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
    or its header points nowhere), not a kind of object the kernel refuses
    (elf/structure.py's first check)."""
    return [Problem(f.message) for f in structure.geometry_flaws(elf, data)]


def table_problems(obj):
    """Section bounds and links, the loaded size, then symbol and
    relocation indexes: elf/structure.py's flaws, the ones every command
    refuses an object for."""
    return [Problem(f.message, symbol=f.symbol, section=f.section,
                    offset=f.offset) for f in structure.table_flaws(obj.elf, obj.data)]
