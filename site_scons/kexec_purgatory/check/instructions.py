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
import functools
import importlib
import re

import capstone

from .finding import Problem

# --simd: "none", no SIMD/x87 anywhere (every purgatory but this tree's);
# "dispatched", the ABI's SIMD_FUNCTIONS may hold their classes (this tree's
# SHA256=auto build; the simd-dispatch rule proves how they are reached).
NONE = "none"
DISPATCHED = "dispatched"
SIMD_MODES = (NONE, DISPATCHED)


def simd_functions(abi):
    """{name: allowed classes} of the ABI's dispatched SIMD functions."""
    return getattr(abi, "SIMD_FUNCTIONS", {})


def allowed_simd(obj, section_index):
    """[(start, end, classes)] of the section's code where --simd
    dispatched lets SIMD stand: the ABI's SIMD functions, by symbol."""
    if getattr(obj, "simd", NONE) != DISPATCHED:
        return []
    wanted = simd_functions(obj.abi)
    return [(s["st_value"], s["st_value"] + s["st_size"], wanted[s.name])
            for s in obj.symbols
            if s.name in wanted and s["st_shndx"] == section_index
            and s["st_info"]["type"] == "STT_FUNC"]


KNOWN_LIMIT = 1 << 16


class Classifier:
    """What the ABI module forbids, in one capstone's numbers: which class
    (x87, SSE, vector, FP...) an instruction belongs to, if any."""

    def __init__(self, module):
        constants = importlib.import_module(f"capstone.{module.CAPSTONE_CONSTANTS}")
        prefix = module.CAPSTONE_PREFIX
        families = [(re.compile(p), kind) for p, kind in module.FORBIDDEN_REGISTERS]
        self.register_kind = {}
        for name, value in vars(constants).items():
            if name.startswith(f"{prefix}REG_"):
                for pattern, kind in families:
                    if pattern.fullmatch(name[len(prefix) + 4:]):
                        self.register_kind[value] = kind
        self.group_kind = {getattr(constants, f"{prefix}GRP_{group}"): kind
                           for group, kind in module.FORBIDDEN_GROUPS.items()
                           if hasattr(constants, f"{prefix}GRP_{group}")}

        def ids(names):
            return [getattr(constants, f"{prefix}INS_{n}") for n in names
                    if hasattr(constants, f"{prefix}INS_{n}")]
        self.general_purpose = frozenset(ids(module.GENERAL_PURPOSE_INSTRUCTIONS))
        self.state_save = dict.fromkeys(ids(module.STATE_SAVE_INSTRUCTIONS),
                                        module.STATE_SAVE_CLASS)
        self.rank = module.CLASS_RANK
        self.prefilter = frozenset(getattr(module, "PREFILTER_BYTES", b""))
        self.capstone = (getattr(capstone, module.CAPSTONE[0]),
                         functools.reduce(lambda a, b: a | b,
                                          (getattr(capstone, m) for m in module.CAPSTONE[1:])))
        self.advice = module.INSTRUCTION_ADVICE
        # Optional: how long an instruction capstone cannot decode is, and
        # its class if forbidden (riscv: V, which capstone 5 does not know).
        self.undecodable = getattr(module, "undecodable", None)
        self.alignment = getattr(module, "INSTRUCTION_ALIGNMENT", 1)
        self.access_table = True
        self.op_reg = getattr(constants, f"{prefix}OP_REG", None)
        self.op_mem = getattr(constants, f"{prefix}OP_MEM", None)
        # instruction bytes -> kind: the class depends on the encoding
        # alone, and a purgatory repeats its encodings (decoding each with
        # details is most of the checker's time)
        self.known = {}

    def remember(self, raw, kind):
        if len(self.known) >= KNOWN_LIMIT:
            self.known.clear()
        self.known[raw] = kind
        return kind

    def registers(self, insn):
        """Registers read and written, implicit ones included; where
        capstone has no access table (PPC in capstone 5: CS_ERR_ARCH), the
        register operands (memory bases too) and the implicit lists."""
        if self.access_table:
            try:
                return insn.regs_access()
            except capstone.CsError:
                self.access_table = False
        operands = []
        for op in insn.operands:
            if op.type == self.op_reg:
                operands.append(op.reg)
            elif op.type == self.op_mem:
                operands.append(op.mem.base)
        return [*operands, *insn.regs_read], list(insn.regs_write)

    def kind(self, insn):
        """The widest forbidden class the instruction touches, or None."""
        if insn.id in self.state_save:
            return self.state_save[insn.id]
        reads, writes = self.registers(insn)
        kinds = {self.register_kind[r] for r in (*reads, *writes)
                 if r in self.register_kind}
        if insn.id not in self.general_purpose:
            kinds.update(self.group_kind[g] for g in insn.groups
                         if g in self.group_kind)
        return max(kinds, key=self.rank.__getitem__, default=None)


# Not yet classified (None is "allowed").
_UNKNOWN = object()


class MissingArchitecture(Exception):
    """This capstone cannot decode the ABI's machine (capstone 4 has no
    RISC-V)."""


@functools.lru_cache(maxsize=None)
def classifier(module):
    try:
        return Classifier(module)
    except (ImportError, AttributeError) as error:
        raise MissingArchitecture(
            f"capstone {capstone.__version__} cannot decode {module.NAME} "
            f"({error}); install capstone >= 5") from None


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


def candidates(md, code, start, end, prefilter, alignment=1, undecodable=None,
               skipped=None):
    """Addresses and sizes of the instructions in [start, end) that might be
    forbidden, from a pass without details (with ``prefilter``, only those
    holding one of its bytes); undecodable bytes are skipped, ``alignment``
    at a time or, with ``undecodable(code, pos) -> (length, kind, text)``,
    one instruction at a time, those of a forbidden kind added to
    ``skipped`` as (address, kind, text)."""
    pos = start
    while pos < end:
        for address, size, _, _ in md.disasm_lite(code[pos:end], pos):
            if not prefilter or not prefilter.isdisjoint(code[address:address + size]):
                yield address, size
            pos = address + size
        if pos < end:
            if undecodable is None:
                pos += alignment - pos % alignment
                continue
            length, kind, text = undecodable(code, pos)
            if kind and skipped is not None and pos + length <= end:
                skipped.append((pos, kind, text))
            pos += length


CAPSTONE_MAJOR = int(capstone.__version__.split(".")[0])


def check_decoder(obj):
    """The unchecked-instructions rule: what this capstone cannot decode of
    the object's machine (none of it, or the ABI module's
    ``CAPSTONE_BLIND_SPOTS`` for its major version), which fpu-simd
    therefore did not check. Debian 12's capstone is 4.0.2."""
    if not any(sec["sh_type"] != "SHT_NOBITS" and sec["sh_size"]
               for sec in obj.exec_sections):
        return
    try:
        classifier(obj.abi)
    except MissingArchitecture as missing:
        yield Problem(f"no instruction checked: {missing}")
        return
    blind = getattr(obj.abi, "CAPSTONE_BLIND_SPOTS", {}).get(CAPSTONE_MAJOR)
    if blind:
        yield Problem(f"capstone {capstone.__version__} cannot decode {blind}: "
                      "those instructions were not checked; install capstone >= 5")


def check_instructions(obj):
    try:
        rules = classifier(obj.abi)
    except MissingArchitecture:
        return      # check_decoder says so
    md = capstone.Cs(*rules.capstone)
    for index, sec in enumerate(obj.sections):
        if sec not in obj.exec_sections or sec["sh_type"] == "SHT_NOBITS":
            continue
        code = sec.data()
        namer = function_namer(obj, index)
        allowed = allowed_simd(obj, index)
        for start, end in code_ranges(obj, index, len(code)):
            md.detail = False
            skipped = []
            found = list(candidates(md, code, start, end, rules.prefilter,
                                    rules.alignment, rules.undecodable, skipped))
            md.detail = True
            for address, kind, text in skipped:
                yield _problem(sec.name, _Undecoded(address, text), kind,
                               namer(address), rules.advice)
            for address, size in found:
                raw = code[address:address + size]
                kind = rules.known.get(raw, _UNKNOWN)
                if kind is None:
                    continue
                for insn in md.disasm(raw, address, 1):
                    if kind is _UNKNOWN:
                        kind = rules.remember(raw, rules.kind(insn))
                    if kind and not any(lo <= address < hi and kind in classes
                                        for lo, hi, classes in allowed):
                        yield _problem(sec.name, insn, kind, namer(address),
                                       rules.advice)


class _Undecoded:
    """An instruction capstone cannot decode, named by the ABI module."""

    def __init__(self, address, text):
        self.address, self.mnemonic, self.op_str = address, text, ""


def _problem(section, insn, kind, function, advice):
    text = f"{insn.mnemonic} {insn.op_str}".strip()
    inside = f" ({function[0]}+{function[1]:#x})" if function else ""
    return Problem(f"{kind} instruction '{text}' at {section}+{insn.address:#x}"
                   f"{inside}: {advice}",
                   symbol=function[0] if function else None, section=section,
                   offset=insn.address, instruction=text)
