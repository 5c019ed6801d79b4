# SPDX-License-Identifier: GPL-2.0-only
"""Rules about relocations: only what the kernel's loader applies, and
applies correctly wherever it places the purgatory (the ABI module's
relocation table says which and how)."""

from ..elf.symbols import nobits_target_problem
from .finding import Problem

# Why an absolute 32-bit type breaks, by the ABI's name for it.
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
    applies_rela = getattr(obj.abi, "RELA_APPLIED", True)
    for sec, target in obj.applied_relocation_sections():
        if sec["sh_type"] == "SHT_RELA" and not applies_rela:
            yield Problem(f"'{sec.name}' relocates '{target.name}', which the "
                          f"kernel loads: the {obj.abi.NAME} kernel applies no "
                          f"relocation at all (\"{obj.abi.RELA_REFUSED_MESSAGE}\""
                          f", even for an empty section); the purgatory must be "
                          f"position independent with no relocation left after "
                          f"ld -r", section=sec.name)
        elif sec["sh_type"] == "SHT_REL":
            yield Problem(f"'{sec.name}' is SHT_REL: the kernel refuses REL "
                          f"relocations on {obj.abi.NAME} (\"REL relocation "
                          f"unsupported\"); it applies only SHT_RELA",
                          section=sec.name)


def check_nobits_targets(obj):
    """Relocation sections patching a NOBITS section (elf/symbols.py)."""
    for sec, target in obj.applied_relocation_sections():
        problem = nobits_target_problem(sec, target)
        if problem:
            yield Problem(problem, section=target.name)


def check_reloc_types(obj):
    types = obj.abi.RELOCATIONS
    for rel in obj.relocations:
        name = rel.type_name
        rtype = types.get(rel.type)
        if rtype is not None and rtype.anywhere:
            continue
        if rtype is not None and not rtype.pc_relative \
                and rel.symbol["st_shndx"] == "SHN_ABS":
            # S + A of an absolute symbol is the same at every load address.
            value = (rel.symbol["st_value"] + rel.addend) & obj.abi.U64
            if rtype.fits(value):
                continue
            why = (f"the constant {value:#x} does not fit: the kernel "
                   f"refuses it at every load address")
        elif rtype is not None:
            why = f"{ABSOLUTE_32.get(name, 'depends on the load address')} ({ABSOLUTE_32_CAUSE})"
        elif not getattr(obj.abi, "RELA_APPLIED", True):
            why = (f"the {obj.abi.NAME} kernel applies no relocation at all "
                   f"(\"{obj.abi.RELA_REFUSED_MESSAGE}\"): address it "
                   f"relative to the program counter (bcl 20,31 and mflr), "
                   f"as trampoline_64.S does")
        elif "GOT" in name:
            why = GOT_CAUSE
        else:
            why = "the kernel's loader does not know this type"
        yield Problem(f"{name} at {rel.where()} against '{rel.symbol_name}': "
                      f"{why}", symbol=rel.symbol_name, section=rel.section,
                      offset=rel.offset, relocation=name)


def check_reloc_pairs(obj):
    """Relocations the loader applies together without checking that they
    belong together (riscv: a PCREL_HI20 writes its LO12_I's instruction
    too, which must be the next one; ADD/SUB pairs)."""
    pairs = getattr(obj.abi, "relocation_pair_problems", None)
    if pairs is None:
        return
    by_section = {}
    for rel in obj.relocations:
        owner = obj.section_of(rel.symbol)
        # S + A inside the patched section (None: another section's symbol)
        value = (rel.symbol["st_value"] + rel.addend) & obj.abi.U64 \
            if owner is not None and owner.name == rel.section else None
        by_section.setdefault(rel.section, []).append((rel.offset, rel.type,
                                                       value, rel))
    for section, entries in by_section.items():
        rels = {(offset, number): rel for offset, number, _, rel in entries}
        for offset, number, message in pairs(
                [(offset, number, value) for offset, number, value, _ in entries]):
            rel = rels[offset, number]
            name = rel.type_name
            yield Problem(f"{name} at {rel.where()} against "
                          f"'{rel.symbol_name}': {message}",
                          symbol=rel.symbol_name, section=section,
                          offset=offset, relocation=name)
