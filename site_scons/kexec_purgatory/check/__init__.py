# SPDX-License-Identifier: GPL-2.0-only
"""The purgatory checker: every rule the kernel's loader enforces, at build time.

``check_elf(data, name)`` returns the findings for one object and raises
``UserError`` (exit status 2) when the bytes are not a readable ELF object;
the ``check`` command and the SCons tool both call it in-process.
"""

import itertools

from ..elf.reader import damaged_elf_is_user_error, parse_elf
from ..errors import UserError
from ..files import read_bytes
from .elfobject import ElfObject
from .finding import ERROR, WARNING, Finding, Problem
from .header import (geometry_problems, header_problems, other_byte_order,
                     table_problems)
from .instructions import DISPATCHED, NONE, SIMD_MODES
from .. import abi as contracts
from .rules import (ABIS, HEADER_RULE, KERNEL_ABI, RULES, RULES_BY_ID,
                    UNCHECKED_MACHINE_RULE)

# Past this many findings of one rule, the rest are counted, not listed:
# a vectorised loop alone gives hundreds of SIMD instructions.
MAX_FINDINGS_PER_RULE = 10

__all__ = ["ABIS", "DISPATCHED", "NONE", "SIMD_MODES", "ERROR", "KERNEL_ABI", "RULES", "RULES_BY_ID", "WARNING",
           "Finding", "check_elf", "check_file", "exit_status"]


def check_elf(data, name, abi=KERNEL_ABI, simd=DISPATCHED):
    """Findings for the ELF object ``data``; ``name`` is how to call it.
    ``simd``: DISPATCHED (SIMD only in the ABI's SIMD functions, proven
    reached through the CPUID dispatch, see check/dispatch.py: this tree's
    SHA-NI path; an object without those functions gets no exemption) or
    NONE (no SIMD at all, as the SCons tool checks every other tree's
    purgatory, kernel mode's included)."""
    if abi not in ABIS:
        raise UserError(f"unknown ABI '{abi}' (known: {', '.join(ABIS)})")
    if simd not in SIMD_MODES:
        raise UserError(f"unknown SIMD mode '{simd}' (known: "
                        f"{', '.join(SIMD_MODES)})")
    elf = parse_elf(data, name)
    with damaged_elf_is_user_error(name):
        problems = header_problems(elf, data)
        if problems:
            return _findings(name, HEADER_RULE, problems)
        problems = geometry_problems(elf, data)
        if problems:
            return _findings(name, HEADER_RULE, problems, damaged=True)
        machine = elf.header["e_machine"]
        if machine in contracts.NOT_YET:
            return _findings(name, UNCHECKED_MACHINE_RULE, [Problem(
                f"{machine} ({contracts.NOT_YET[machine]}): this checker "
                "knows the kernel's purgatory contract for "
                f"{', '.join(m.NAME for m in contracts.ARCHITECTURES.values())}"
                " only; only the ELF header was checked")])
        other = other_byte_order(elf)
        if other:
            return _findings(name, UNCHECKED_MACHINE_RULE, [Problem(
                f"{machine} in the other byte order ({other}): this checker "
                f"knows the {contracts.ARCHITECTURES[machine].NAME} contract "
                "only; only the ELF header was checked")])
        obj = ElfObject(elf, data, name)
        obj.simd = simd
        problems = table_problems(obj)
        if problems:
            return _findings(name, HEADER_RULE, problems, damaged=True)
        findings = []
        for rule in RULES:
            if rule.check is not None and rule.abi in (None, abi):
                findings += _findings(name, rule, rule.check(obj))
        return findings


def check_file(path, abi=KERNEL_ABI, simd=DISPATCHED):
    return check_elf(read_bytes(path), path, abi, simd)


def exit_status(findings, strict=False):
    """0 when nothing fails, 1 on an error (or, if strict, a warning), 2
    when the object is damaged (its header or tables point past its end or
    nowhere): unusable input, as every other command says of it."""
    if any(f.damaged for f in findings):
        return 2
    failing = {ERROR, WARNING} if strict else {ERROR}
    return 1 if any(f.severity in failing for f in findings) else 0


def _findings(name, rule, problems, damaged=False):
    problems = iter(problems)
    shown = list(itertools.islice(problems, MAX_FINDINGS_PER_RULE))
    hidden = sum(1 for _ in problems)
    if hidden:
        shown.append(Problem(f"{hidden} more findings of this rule not shown"))
    return [Finding(name, rule.severity, rule.id, p, damaged) for p in shown]
