# SPDX-License-Identifier: GPL-2.0-only
"""Rules about relocations: only what the kernel's x86_64 loader applies safely."""

from ..loader import absolute_32_fits
from .finding import Problem

# Types the kernel applies and that stay correct wherever it places the
# purgatory (anywhere from 0x3000 to the top of memory, above 4 GiB too).
SAFE_TYPES = {"R_X86_64_NONE", "R_X86_64_64", "R_X86_64_PC32", "R_X86_64_PLT32"}

ABSOLUTE_32 = {
    "R_X86_64_32": "fails once the kernel places the purgatory above 4 GiB",
    "R_X86_64_32S": "fails once the kernel places the purgatory above 2 GiB",
}
ABSOLUTE_32_CAUSE = ("absolute 32-bit addressing from -mcmodel=kernel or "
                     "-mcmodel=small without -fpic; build with -fpic "
                     "-fvisibility=hidden or -mcmodel=large")
GOT_CAUSE = ("the kernel builds no GOT; caused by PIC/PIE code reaching a "
             "symbol that is not hidden: build with -fvisibility=hidden and "
             "declare external symbols hidden")


def check_rel_sections(obj):
    for sec, target in obj.applied_relocation_sections():
        if sec["sh_type"] == "SHT_REL":
            yield Problem(f"'{sec.name}' is SHT_REL: the kernel refuses REL "
                          f"relocations on x86_64 (\"REL relocation "
                          f"unsupported\"); it applies only SHT_RELA",
                          section=sec.name)


U64 = (1 << 64) - 1


def check_reloc_types(obj):
    for rel in obj.relocations:
        name = rel.type_name
        if name in SAFE_TYPES:
            continue
        if name in ABSOLUTE_32 and rel.symbol["st_shndx"] == "SHN_ABS":
            # S + A of an absolute symbol is the same at every load address.
            value = (rel.symbol["st_value"] + rel.addend) & U64
            if absolute_32_fits(rel.type, value):
                continue
            why = (f"the constant {value:#x} does not fit: the kernel "
                   f"refuses it at every load address")
        elif name in ABSOLUTE_32:
            why = f"{ABSOLUTE_32[name]} ({ABSOLUTE_32_CAUSE})"
        elif "GOT" in name:
            why = GOT_CAUSE
        else:
            why = "the kernel's loader does not know this type"
        yield Problem(f"{name} at {rel.where()} against '{rel.symbol_name}': "
                      f"{why}", symbol=rel.symbol_name, section=rel.section,
                      offset=rel.offset, relocation=name)
