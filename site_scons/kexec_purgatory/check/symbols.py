# SPDX-License-Identifier: GPL-2.0-only
"""Rules about symbols: the symbol table, the kernel ABI, entry, undefined and COMMON."""

from ..elf.symbols import outside_section_problem, unloaded_section_problem
from .elfobject import SHF_ALLOC, SHF_EXECINSTR
from .finding import Problem
from .hints import undefined_symbol_hint

def check_symtab(obj):
    if not obj.symtabs:
        yield Problem("no .symtab: the kernel finds every symbol it needs through "
                      "it, so a stripped object cannot be loaded (do not strip "
                      "purgatory.ro)")


def check_abi_symbols(obj):
    if not obj.symtabs:
        return  # the symtab rule has said it all
    for name, size in obj.abi.SYMBOLS.items():
        sym = obj.find_global(name)
        if sym is None:
            yield _missing_symbol(obj, name)
            continue
        section = obj.section_of(sym)
        if section is None:
            yield Problem(f"'{name}' is {sym['st_shndx']}, not defined in a "
                          f"section: the kernel's lookup fails", symbol=name)
            continue
        refused = False
        if size is not None and sym["st_size"] != size:
            refused = True
            yield Problem(f"'{name}' has size {sym['st_size']}, the kernel "
                          f"reads and writes exactly {size} bytes",
                          symbol=name, section=section.name)
        if size is not None and section["sh_type"] == "SHT_NOBITS":
            refused = True
            yield Problem(f"'{name}' is in NOBITS section '{section.name}': the "
                          f"kernel refuses to write a symbol in a bss section "
                          f"(build with -fno-zero-initialized-in-bss, give it "
                          f"an initializer)", symbol=name, section=section.name)
        # What the kernel does not refuse but gets wrong (elf/symbols.py):
        wrong_place = not refused and (
            unloaded_section_problem(section, sym)
            or outside_section_problem(section, sym, size or 0))
        if wrong_place:
            yield Problem(f"symbol {wrong_place}", symbol=name,
                          section=section.name)


def _missing_symbol(obj, name):
    others = sorted({s["st_info"]["bind"] for s in obj.symbols if s.name == name})
    if others:
        return Problem(f"'{name}' is {'/'.join(others)}, but the kernel only "
                       f"finds STB_GLOBAL symbols", symbol=name)
    return Problem(f"required symbol '{name}' is missing", symbol=name)


def check_entry(obj):
    """The entry symbol (2026+ kernels) and e_entry (older ones) must agree."""
    entry = obj.elf.header["e_entry"]
    entry_symbol = obj.abi.ENTRY_SYMBOL
    first_hit = next((s for s in obj.exec_sections
                      if 0 <= entry - s["sh_addr"] < s["sh_size"]), None)
    sym = obj.find_global(entry_symbol)
    section = obj.section_of(sym) if sym is not None else None
    if first_hit is None:
        yield Problem(f"e_entry {entry:#x} is not inside any executable "
                      f"section: kernels before 2026 cannot find the entry "
                      f"(link with -e {entry_symbol})")
    if section is None:
        return
    start = sym["st_value"]
    culprit = dict(symbol=entry_symbol, section=section.name, offset=start)
    if not obj.has_flags(section, SHF_ALLOC | SHF_EXECINSTR):
        yield Problem(f"'{entry_symbol}' is in '{section.name}', which is not "
                      f"a loaded executable section", **culprit)
    elif start >= section["sh_size"]:
        yield Problem(f"'{entry_symbol}' at {section.name}+{start:#x} lies "
                      f"outside its section", **culprit)
    elif entry != start:
        yield Problem(f"e_entry is {entry:#x} but '{entry_symbol}' is at "
                      f"{section.name}+{start:#x}: kernels before 2026 start at "
                      f"e_entry (link with -e {entry_symbol})", **culprit)
    elif first_hit is not None and first_hit is not section:
        yield Problem(f"kernels before 2026 would start at "
                      f"{first_hit.name}+{entry:#x}, the first executable "
                      f"section containing e_entry, not at '{entry_symbol}' "
                      f"in '{section.name}'", **culprit)


def check_undefined(obj):
    """Undefined symbols used by an applied relocation, or declared global.

    The kernel resolves the symbol of every relocation, R_X86_64_NONE
    included, so one against the null symbol (index 0, no name) fails too.
    """
    refused = getattr(obj.abi, "UNDEFINED_SYMBOLS_REFUSED", True)
    first_use = {}
    for rel in obj.relocations:
        if rel.symbol["st_shndx"] == "SHN_UNDEF":
            if not refused:
                # riscv: S = 0 without a word; harmless where the loader
                # writes nothing (ALIGN, RELAX against the null symbol).
                rtype = obj.abi.RELOCATIONS.get(rel.type)
                if rtype is not None and not rtype.width:
                    continue
            first_use.setdefault(rel.symbol_name, rel)
    names = list(first_use)
    for sym in obj.symbols:
        if (sym["st_shndx"] == "SHN_UNDEF" and sym.name
                and sym["st_info"]["bind"] != "STB_LOCAL"
                and sym.name not in first_use and sym.name not in names):
            names.append(sym.name)
    for name in names:
        rel = first_use.get(name)
        used = f", used at {rel.where()}" if rel else ""
        hint = undefined_symbol_hint(name)
        hint = f" ({hint})" if hint else ""
        what = f"'{name}'" if name else "'' (the null symbol, index 0)"
        consequence = ("the kernel refuses to load an object with "
                       "undefined symbols" if refused else
                       f"the {obj.abi.NAME} kernel takes its address as 0 "
                       "without a word and loads a purgatory that jumps or "
                       "reads there")
        yield Problem(f"undefined symbol {what}{used}: {consequence}{hint}",
                      symbol=name, section=rel.section if rel else None,
                      offset=rel.offset if rel else None)


def check_common(obj):
    for sym in obj.symbols:
        if sym["st_shndx"] == "SHN_COMMON":
            yield Problem(f"'{sym.name}' is a COMMON symbol (a tentative "
                          f"definition): the kernel cannot place it (build "
                          f"with -fno-common)", symbol=sym.name)


def check_unloaded_sections(obj):
    """Relocations against a symbol defined in a section the kernel does
    not load: resolved without a word to an address outside the purgatory
    (elf/symbols.py)."""
    for rel in obj.relocations:
        problem = unloaded_section_problem(obj.section_of(rel.symbol),
                                           rel.symbol, rel.symbol_name)
        if problem:
            yield Problem(f"{rel.type_name} at {rel.where()} against symbol "
                          f"{problem}", symbol=rel.symbol_name,
                          section=rel.section, offset=rel.offset,
                          relocation=rel.type_name)
