# SPDX-License-Identifier: GPL-2.0-only
"""Rules about sections: what the kernel loads, how it lays it out, and weight."""

from ..elf.layout import bad_alignments, compute_layout
from .elfobject import SHF_WRITE
from .finding import Problem

SIZE_BUDGET = 64 * 1024

DEBUG_PREFIXES = (".debug", ".zdebug", ".stab", ".gnu.debuglto_")
UNWIND_NAMES = (".eh_frame", ".eh_frame_hdr", ".gcc_except_table")


def check_exec_sections(obj):
    """Pre-2026 kernels enter the first executable section holding e_entry."""
    nonempty = [s for s in obj.exec_sections if s["sh_size"]]
    for extra in nonempty[1:]:
        yield Problem(f"executable section '{extra.name}' besides "
                      f"'{nonempty[0].name}': kernels before 2026 can enter "
                      f"the wrong one (merge .text.* into .text in the linker "
                      f"script; caused by -ffunction-sections, LTO, PGO's "
                      f".text.hot, the large model's .ltext)",
                      section=extra.name)


def check_loaded_notes(obj):
    for sec in obj.loaded_sections:
        if sec["sh_type"] == "SHT_NOTE":
            yield Problem(f"note section '{sec.name}' is SHF_ALLOC, so the "
                          f"kernel loads it into the purgatory (from "
                          f"-fcf-protection or the assembler's ISA notes: "
                          f"discard .note.* in the linker script)",
                          section=sec.name)


def check_alignment(obj):
    for sec in bad_alignments(obj.elf):
        align = sec["sh_addralign"]
        yield Problem(f"section '{sec.name}' has sh_addralign {align}, not "
                          f"a power of two: the kernel's placement assumes one "
                          f"(with 0 it puts the section at offset 0, over the "
                          f"sections before it)", section=sec.name)


def check_writable_exec(obj):
    for sec in obj.exec_sections:
        if obj.has_flags(sec, SHF_WRITE):
            yield Problem(f"section '{sec.name}' is both writable and "
                          f"executable: code and data are mixed (check the "
                          f"section flags in the assembly sources)",
                          section=sec.name)


def loaded_size(obj):
    """Bytes of memory the kernel sets aside (the loader's own layout:
    aligned sections, .bss after the padded buffer); None when the layout
    cannot be made (the alignment rule says why)."""
    if bad_alignments(obj.elf):
        return None
    return compute_layout(obj.elf, obj.name, obj.abi.PAGE_SIZE).memsz


def check_size(obj):
    sizes = (("the file", len(obj.data)), ("the loaded image", loaded_size(obj)))
    for what, size in sizes:
        if size is None:
            continue
        if size > SIZE_BUDGET:
            yield Problem(f"{what} is {size} bytes, over the {SIZE_BUDGET} byte "
                          f"budget: every kernel image embeds the purgatory and "
                          f"every kexec loads it")


def check_dead_weight(obj):
    """Debug and unwind sections that nothing in a purgatory ever reads."""
    debug = [s for s in obj.sections if s.name.startswith(DEBUG_PREFIXES)]
    unwind = [s for s in obj.sections
              if s.name in UNWIND_NAMES or s["sh_type"] == "SHT_X86_64_UNWIND"]
    for group, advice in ((debug, "build with -g0"),
                          (unwind, "build with -fno-asynchronous-unwind-tables "
                                   "-fno-unwind-tables")):
        if group:
            size = sum(s["sh_size"] for s in group)
            names = ", ".join(s.name for s in group)
            yield Problem(f"{names}: {size} bytes embedded in every kernel and "
                          f"never used by the purgatory ({advice})",
                          section=group[0].name)
