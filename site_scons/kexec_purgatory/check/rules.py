# SPDX-License-Identifier: GPL-2.0-only
"""The rule table: every check the checker runs, with its stable id.

The ids are an interface: build logs, CI greps and ``--json`` consumers key
on them, and docs/checker-rules.md documents each one. Never rename one.
"""

import dataclasses
from typing import Callable, Optional

from . import dispatch, instructions, relocations, sections, symbols
from .finding import ERROR, WARNING

KERNEL_ABI = "kernel"
ABIS = (KERNEL_ABI, "none")


@dataclasses.dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    prevents: str           # the failure at kexec time the rule moves to build time
    check: Optional[Callable]  # obj -> iterable of Problem (None: the header gate)
    abi: Optional[str] = None  # only checked for this --abi


HEADER_RULE = Rule(
    "elf-header", ERROR,
    "kexec_file_load refusing an object that is not a sane 64-bit ET_REL "
    "of a known machine in its byte order, or misreading a damaged one", None)

# Not a check of its own: what the checker says of an object of a machine
# whose kernel loads a purgatory but whose contract it does not know yet.
UNCHECKED_MACHINE_RULE = Rule(
    "unchecked-machine", WARNING,
    "a purgatory of a machine whose contract is not here yet (abi.NOT_YET) "
    "taken as checked when only its ELF header was", None)

RULES = (
    HEADER_RULE,
    UNCHECKED_MACHINE_RULE,
    Rule("symtab", ERROR, "a stripped purgatory: no symbol can be found",
         symbols.check_symtab),
    Rule("abi-symbol", ERROR,
         "the kernel failing to find, read or write the symbols it shares "
         "with the purgatory (not found, size mismatch, in a bss section)",
         symbols.check_abi_symbols, abi=KERNEL_ABI),
    Rule("entry", ERROR, "the CPU entering the purgatory at the wrong address",
         symbols.check_entry),
    Rule("exec-sections", ERROR,
         "pre-2026 kernels picking the wrong executable section as entry "
         "(.text.hot, .ltext, .text.* from LTO)", sections.check_exec_sections),
    Rule("rel-section", ERROR, "\"REL relocation unsupported\" at load time "
         "(on ppc64le, where nothing is relocated, \"RELA relocation "
         "unsupported.\" too)",
         relocations.check_rel_sections),
    Rule("reloc-type", ERROR,
         "\"Unknown rela relocation\" and 32-bit relocation overflow once "
         "the purgatory is placed above 2/4 GiB", relocations.check_reloc_types),
    Rule("reloc-pair", ERROR,
         "a purgatory the kernel loads wrong without a word: riscv's "
         "PCREL_HI20 patching an instruction that is not its LO12_I, an ADD "
         "without its SUB", relocations.check_reloc_pairs),
    Rule("undefined-symbol", ERROR, "\"Undefined symbol\" at load time",
         symbols.check_undefined),
    Rule("unloaded-section", ERROR,
         "a relocation resolved without a word to the file's sh_addr (0) "
         "plus the symbol's value, because its symbol lies in a section the "
         "kernel does not load", symbols.check_unloaded_sections),
    Rule("nobits-relocation", ERROR,
         "relocations written into the kernel's purgatory buffer at a NOBITS "
         "section's file offset, over other sections, while the section "
         "itself stays zero", relocations.check_nobits_targets),
    Rule("common-symbol", ERROR, "COMMON symbols the kernel cannot place",
         symbols.check_common),
    Rule("loaded-note", ERROR, "note sections loaded as part of the purgatory",
         sections.check_loaded_notes),
    Rule("section-alignment", ERROR,
         "misplaced sections from an alignment that is not a power of two",
         sections.check_alignment),
    Rule("writable-exec", ERROR, "code and data mixed in one section",
         sections.check_writable_exec),
    Rule("fpu-simd", ERROR,
         "a #UD fault and a hung kdump from x87/MMX/SSE/AVX instructions "
         "(on ppc64le: a facility-unavailable interrupt from FP, Altivec or "
         "VSX)",
         instructions.check_instructions),
    Rule("unchecked-instructions", WARNING,
         "a purgatory taken as free of the instructions fpu-simd forbids "
         "when this capstone could not decode them (capstone 4: no RISC-V, "
         "no s390x vector facility)", instructions.check_decoder),
    Rule("simd-dispatch", ERROR,
         "SIMD code run without asking CPUID first, or with SSE still off: "
         "a #UD and a hung kexec on a CPU without the extension (checked "
         "with --simd dispatched, this tree's SHA256=auto build, only)",
         dispatch.check_simd_dispatch),
    Rule("size-budget", WARNING, "a purgatory growing without anyone noticing",
         sections.check_size),
    Rule("dead-weight", WARNING,
         "debug and unwind sections embedded in every kernel for nothing",
         sections.check_dead_weight),
)

RULES_BY_ID = {rule.id: rule for rule in RULES}
