# SPDX-License-Identifier: GPL-2.0-only
"""The fpu-simd rule: no x87, MMX, SSE, AVX or AVX-512 in the purgatory.

The purgatory runs with CR4.OSFXSR and OSXSAVE clear, so any such
instruction faults (#UD) and the machine hangs in purgatory during a crash
dump. Detection uses capstone's instruction groups and register accesses
(implicit ones included), not mnemonic spelling.

Cost: a fast pass without details over the code, then a detailed decode of
only the instructions that contain a byte which can start an x87, 0F-map,
VEX, EVEX or XOP opcode (a sound superset of every instruction of interest).
"""

import bisect
import re

import capstone
from capstone import x86_const as X86

from .. import abi
from .finding import Problem

# Bytes at least one of which every x87/MMX/SSE/AVX/AVX-512 encoding contains:
# 0F (two-byte map: MMX, SSE, 3DNow!), C4/C5 (VEX), 62 (EVEX), 8F (XOP),
# D8-DF (x87), 9B (fwait).
ESCAPE_BYTES = frozenset(b"\x0f\xc4\xc5\x62\x8f\x9b" + bytes(range(0xD8, 0xE0)))


X86_ABI = abi.x86_64


def _register_kinds():
    """capstone register id -> class, for every register the ABI forbids."""
    families = [(re.compile(p), kind) for p, kind in X86_ABI.FORBIDDEN_REGISTERS]
    kinds = {}
    for name, value in vars(X86).items():
        if name.startswith("X86_REG_"):
            for pattern, kind in families:
                if pattern.fullmatch(name[len("X86_REG_"):]):
                    kinds[value] = kind
    return kinds


def _ids(prefix, names):
    """capstone's numbers for the names this capstone version knows."""
    return [getattr(X86, prefix + n) for n in names if hasattr(X86, prefix + n)]


REGISTER_KIND = _register_kinds()
GROUP_KIND = {getattr(X86, f"X86_GRP_{group}"): kind
              for group, kind in X86_ABI.FORBIDDEN_GROUPS.items()
              if hasattr(X86, f"X86_GRP_{group}")}
GENERAL_PURPOSE_IDS = frozenset(_ids("X86_INS_", X86_ABI.GENERAL_PURPOSE_INSTRUCTIONS))
STATE_SAVE_IDS = dict.fromkeys(_ids("X86_INS_", X86_ABI.STATE_SAVE_INSTRUCTIONS),
                               X86_ABI.STATE_SAVE_CLASS)
KIND_RANK = X86_ABI.CLASS_RANK


def simd_kind(insn):
    """'x87', 'MMX', 'SSE', 'AVX', 'AVX-512' (the widest seen) or None."""
    if insn.id in STATE_SAVE_IDS:
        return STATE_SAVE_IDS[insn.id]
    reads, writes = insn.regs_access()
    kinds = {REGISTER_KIND[r] for r in (*reads, *writes) if r in REGISTER_KIND}
    if insn.id not in GENERAL_PURPOSE_IDS:
        kinds.update(GROUP_KIND[g] for g in insn.groups if g in GROUP_KIND)
    return max(kinds, key=KIND_RANK.__getitem__, default=None)


def code_ranges(obj, section_index, size):
    """[start, end) ranges of a section to decode: all of it but data objects."""
    objects = sorted((s["st_value"], s["st_value"] + s["st_size"])
                     for s in obj.symbols
                     if s["st_shndx"] == section_index and s["st_size"]
                     and s["st_info"]["type"] == "STT_OBJECT")
    start = 0
    for lo, hi in objects:
        if lo > start:
            yield start, min(lo, size)
        start = max(start, hi)
    if start < size:
        yield start, size


def function_namer(obj, section_index):
    """Map an offset to 'function+0xN' using the section's function symbols."""
    funcs = sorted((s["st_value"], s.name) for s in obj.symbols
                   if s["st_shndx"] == section_index and s.name
                   and s["st_info"]["type"] in ("STT_FUNC", "STT_NOTYPE"))
    starts = [v for v, _ in funcs]

    def name(offset):
        i = bisect.bisect_right(starts, offset) - 1
        if i < 0:
            return None
        return funcs[i][1], offset - funcs[i][0]
    return name


def candidates(md, code, start, end):
    """Addresses and sizes of the instructions in [start, end) that might be
    x87/SIMD, from a pass without details; undecodable bytes are skipped."""
    pos = start
    while pos < end:
        for address, size, _, _ in md.disasm_lite(code[pos:end], pos):
            if not ESCAPE_BYTES.isdisjoint(code[address:address + size]):
                yield address, size
            pos = address + size
        if pos < end:
            pos += 1


def check_instructions(obj):
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    for index, sec in enumerate(obj.sections):
        if sec not in obj.exec_sections or sec["sh_type"] == "SHT_NOBITS":
            continue
        code = sec.data()
        namer = function_namer(obj, index)
        for start, end in code_ranges(obj, index, len(code)):
            md.detail = False
            found = list(candidates(md, code, start, end))
            md.detail = True
            for address, size in found:
                for insn in md.disasm(code[address:address + size], address, 1):
                    kind = simd_kind(insn)
                    if kind:
                        yield _problem(sec.name, insn, kind, namer(address))


def _problem(section, insn, kind, function):
    text = f"{insn.mnemonic} {insn.op_str}".strip()
    inside = f" ({function[0]}+{function[1]:#x})" if function else ""
    return Problem(f"{kind} instruction '{text}' at {section}+{insn.address:#x}"
                   f"{inside}: the purgatory runs with x87/SSE/AVX disabled "
                   f"(build with -mgeneral-regs-only, -march=x86-64 at most)",
                   symbol=function[0] if function else None, section=section,
                   offset=insn.address, instruction=text)
