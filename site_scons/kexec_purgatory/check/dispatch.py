# SPDX-License-Identifier: GPL-2.0-only
"""The simd-dispatch rule: SIMD code reachable only through its dispatch.

This tree's purgatory (SHA256=auto) hashes with the SHA extensions where
the CPU has them: SSE code in the functions the ABI module names
(``SIMD_FUNCTIONS``), which turn SSE on for themselves. That is safe only
if nothing runs them without asking CPUID first, so with ``--simd
dispatched`` the fpu-simd rule lets SIMD instructions of the allowed
classes stand inside those functions, and this rule proves, from the code
and the relocations, that:

- each such function is one function symbol with a size, in loaded code;
- every direct call or jump, every RIP-relative operand and every
  relocation (in any loaded section: a function pointer in .data counts)
  that lands inside one comes from the dispatch function or from inside the
  function itself;
- no code runs into one by falling through: the instruction before it,
  padding aside, is a ret, jmp, ud2 or hlt;
- the dispatch function exists once and executes CPUID;
- each function writes the control register that enables SIMD
  (``SIMD_ENABLE``) before its first SIMD instruction and after its last.

The proof is about references, not paths through the dispatch: it is what
a reviewer checks by eye in sha256_blocks() (CPUID, then the call), made
impossible to break silently by adding a caller elsewhere.
"""

import re

import capstone

from .finding import Problem
from .instructions import (DISPATCHED, NONE, MissingArchitecture, classifier,
                           code_ranges, function_namer, simd_functions)

# What ends a function so that the next one is not reached by falling
# through, and what a compiler or assembler pads between functions with.
TERMINATORS = {"ret", "retq", "jmp", "jmpq", "ud2", "hlt", "lret", "lretq"}
PADDING = {"nop", "nopw", "nopl", "int3", "data16", "cs nopw"}
BRANCHES = re.compile(r"^(call|j[a-z]+|loop[a-z]*)q?$")
RIP_RELATIVE = re.compile(r"\[rip ([+-]) (0x[0-9a-f]+|\d+)\]")
IMMEDIATE = re.compile(r"^(0x[0-9a-f]+|\d+)$")


def _function_symbols(obj, name):
    return [s for s in obj.symbols if s.name == name
            and s["st_info"]["type"] == "STT_FUNC"]


def _instructions(md, code, section_index, obj):
    """(address, size, mnemonic, operands) of every instruction in the
    section's code, data objects skipped, linearly decoded."""
    for start, end in code_ranges(obj, section_index, len(code)):
        pos = start
        while pos < end:
            for insn in md.disasm_lite(code[pos:end], pos):
                yield insn
                pos = insn[0] + insn[1]
            if pos < end:
                pos += 1            # an undecodable byte: go on after it


def _targets(address, size, mnemonic, operands):
    """Addresses an instruction refers to: a branch's immediate target,
    RIP-relative operands."""
    if BRANCHES.match(mnemonic) and IMMEDIATE.match(operands):
        yield int(operands, 0)
    for sign, value in RIP_RELATIVE.findall(operands):
        offset = int(value, 0)
        yield address + size + (offset if sign == "+" else -offset)


def check_simd_dispatch(obj):
    wanted = simd_functions(obj.abi)
    if getattr(obj, "simd", NONE) != DISPATCHED or not wanted:
        return
    try:
        rules = classifier(obj.abi)
    except MissingArchitecture as missing:
        yield Problem(f"SIMD dispatch not checked: {missing}")
        return
    functions = {}
    for name in wanted:
        found = _function_symbols(obj, name)
        if not found:
            continue                # nothing to prove: the path is not built
        if len(found) > 1 or not found[0]["st_size"]:
            yield Problem(f"SIMD function '{name}' must be one function "
                          f"symbol with a size (found {len(found)})",
                          symbol=name)
            continue
        index = _section_index(obj, found[0])
        if index is None:
            yield Problem(f"SIMD function '{name}' is not in loaded code",
                          symbol=name)
            continue
        start = found[0]["st_value"]
        functions[name] = (index, start, start + found[0]["st_size"])
    if not functions:
        return
    dispatch_name = obj.abi.SIMD_DISPATCH
    dispatch = _function_symbols(obj, dispatch_name)
    if len(dispatch) != 1 or not dispatch[0]["st_size"] or \
            _section_index(obj, dispatch[0]) is None:
        yield Problem(f"dispatch function '{dispatch_name}' must be one "
                      f"function symbol with a size in loaded code (found "
                      f"{len(dispatch)}): "
                      f"nothing else may reference {', '.join(functions)}",
                      symbol=dispatch_name)
        return
    dispatch_section = _section_index(obj, dispatch[0])
    d_start = dispatch[0]["st_value"]
    d_range = (dispatch_section, d_start, d_start + dispatch[0]["st_size"])
    yield from _check_code(obj, rules, functions, dispatch_name, d_range)
    yield from _check_relocations(obj, functions, dispatch_name, d_range)


def _section_index(obj, symbol):
    """The index of the loaded executable section holding ``symbol``, or
    None (undefined, absolute, data, not loaded)."""
    index = symbol["st_shndx"]
    if isinstance(index, int) and 0 < index < len(obj.sections) and \
            any(obj.sections[index] is s for s in obj.exec_sections):
        return index
    return None


def _inside(where, ranges):
    section, address = where
    return any(section == s and lo <= address < hi for s, lo, hi in ranges)


def _check_code(obj, rules, functions, dispatch_name, d_range):
    md = capstone.Cs(*rules.capstone)
    feature_test, enable = obj.abi.SIMD_FEATURE_TEST, obj.abi.SIMD_ENABLE
    tested = False
    for index, sec in enumerate(obj.sections):
        if sec not in obj.exec_sections or sec["sh_type"] == "SHT_NOBITS":
            continue
        code = sec.data()
        previous = None             # the last instruction that is not padding
        for insn in _instructions(md, code, index, obj):
            address, size, mnemonic, operands = insn
            for name, (f_section, lo, hi) in functions.items():
                if f_section == index and address == lo and previous and \
                        previous[2] not in TERMINATORS:
                    text = f"{previous[2]} {previous[3]}".strip()
                    yield Problem(
                        f"'{text}' at {sec.name}+{previous[0]:#x} falls through "
                        f"into SIMD function '{name}': only "
                        f"'{dispatch_name}' may enter it",
                        symbol=name, section=sec.name, offset=previous[0])
                for target in _targets(*insn):
                    if lo <= target < hi and f_section == index and not (
                            _inside((index, address), [d_range])
                            or lo <= address < hi):
                        yield Problem(
                            f"'{mnemonic} {operands}' at {sec.name}+"
                            f"{address:#x} refers to SIMD function '{name}': "
                            f"only '{dispatch_name}', after CPUID, may",
                            section=sec.name, offset=address,
                            instruction=f"{mnemonic} {operands}")
            if mnemonic == feature_test and _inside((index, address), [d_range]):
                tested = True
            if mnemonic not in PADDING:
                previous = insn
        for name, (f_section, lo, hi) in functions.items():
            if f_section == index:
                yield from _check_enable(md, rules, code, name, lo, hi,
                                         enable, sec.name)
    if not tested:
        yield Problem(f"dispatch function '{dispatch_name}' never runs "
                      f"{feature_test}: it must ask the CPU before it calls "
                      f"{', '.join(functions)}", symbol=dispatch_name)


def _check_enable(md, rules, code, name, lo, hi, register, section):
    """The function writes ``register`` before its first SIMD instruction
    and after its last one."""
    md.detail = True
    writes, simd = [], []
    for insn in md.disasm(code[lo:hi], lo):
        if insn.mnemonic == "mov" and insn.op_str.startswith(f"{register},"):
            writes.append(insn.address)
        elif rules.kind(insn):
            simd.append(insn.address)
    md.detail = False
    if simd and not (writes and writes[0] < simd[0] and writes[-1] > simd[-1]):
        yield Problem(f"SIMD function '{name}' does not write {register} "
                      f"before its first SIMD instruction and after its last "
                      f"(it must enable SIMD for itself and restore it)",
                      symbol=name, section=section, offset=simd[0])


def _check_relocations(obj, functions, dispatch_name, d_range):
    ranges = list(functions.items())
    d_section_name = obj.sections[d_range[0]].name
    namers = {sec.name: function_namer(obj, index)
              for index, sec in enumerate(obj.sections)
              if sec in obj.exec_sections}
    for rel in obj.relocations:
        owner = obj.section_of(rel.symbol)
        if owner is None:
            continue
        base = rel.symbol["st_value"] + rel.addend
        # A PC-relative field lies 4 bytes (plus any immediate) before the
        # end of its instruction, from which the CPU counts.
        candidates = {base, base + 4}
        owner_index = obj.sections.index(owner)
        for name, (f_section, lo, hi) in ranges:
            if owner_index != f_section or not any(lo <= c < hi for c in candidates):
                continue
            within = rel.section == d_section_name and \
                d_range[1] <= rel.offset < d_range[2]
            itself = rel.section == obj.sections[f_section].name and \
                lo <= rel.offset < hi
            if not (within or itself):
                function = namers[rel.section](rel.offset) \
                    if rel.section in namers else None
                inside = f" ({function[0]}+{function[1]:#x})" if function else ""
                yield Problem(f"{rel.type_name} at {rel.where()}{inside} refers to "
                              f"SIMD function '{name}': only "
                              f"'{dispatch_name}', after CPUID, may",
                              symbol=name, section=rel.section,
                              offset=rel.offset)
