# SPDX-License-Identifier: GPL-2.0-only
"""The purgatory's compiler flags, and the filter for flags users pass in.

The purgatory runs with no runtime at all: no libc, no stack-protector
canary, no ftrace, no sanitizer runtime, no SSE state (CR4.OSFXSR is off), and
it may be placed anywhere in memory. Each flag below exists because one of
those facts once broke a real purgatory (see purgatory-facts.md).

Command lines are assembled as: tunable defaults, then the user's filtered
CFLAGS/CPPFLAGS, then the mandatory flags, so the user can change what is
safe to change (optimisation, warnings, prefix maps) and never what keeps
the object freestanding.
"""

import fnmatch
import shlex
from typing import NamedTuple

from ..errors import UserError

CODE_MODELS = {
    # Linux since 2024: position independent, small model, no GOT because
    # every symbol is hidden. Relocations: PC32/PLT32 plus R_X86_64_64.
    "pic": ("-fpic", "-mcmodel=small", "-fvisibility=hidden"),
    # Linux before 2024: absolute 64-bit addresses (movabs), R_X86_64_64.
    "large": ("-fno-pic", "-mcmodel=large"),
}

# Defaults a user may override through CFLAGS (later flags win in gcc).
TUNABLE_CFLAGS = ("-std=gnu11", "-O2", "-Wall", "-Wstrict-prototypes",
                  "-Wmissing-prototypes")

# What makes the object a purgatory. Always last on the command line.
MANDATORY_CFLAGS = (
    "-nostdinc",                       # no host headers: same bytes on any host
    "-ffreestanding", "-fno-builtin",  # no libc assumptions
    "-fno-stack-protector",            # no __stack_chk_fail, no canary
    "-fcf-protection=none",            # no endbr64, no SHF_ALLOC .note.gnu.property
    "-mno-red-zone",
    "-mgeneral-regs-only",             # no SSE/AVX/MMX/x87: CR4 has no OSFXSR
    "-fno-asynchronous-unwind-tables", "-fno-unwind-tables",
    "-g0",                             # no debug info: smaller, path-free
    "-fno-zero-initialized-in-bss",    # the kernel can't set symbols in .bss
    "-fno-common",                     # the kernel refuses SHN_COMMON
    "-fno-strict-aliasing",
    "-fno-pie",                        # distro default PIE means GOT relocations
)

# Assembly sources get what applies to them.
MANDATORY_ASFLAGS = ("-D__ASSEMBLY__", "-nostdinc")

# User flags that break a freestanding purgatory, as shell-style patterns,
# each with the reason shown when it is dropped.
BREAKING_FLAGS = (
    ("-fstack-protector*", "needs __stack_chk_fail"),
    ("-D_FORTIFY_SOURCE*", "needs the libc's __*_chk functions"),
    ("-Wp,*_FORTIFY_SOURCE*", "needs the libc's __*_chk functions"),
    ("-specs=*", "changes the compiler's defaults (PIE, plugins)"),
    ("-fplugin*", "compiler plugins (annobin) add notes"),
    ("-fcf-protection*", "emits a loaded .note.gnu.property"),
    ("-pg", "needs mcount/__fentry__"),
    ("-mfentry", "needs __fentry__"),
    ("-mrecord-mcount", "ftrace bookkeeping"),
    ("-mnop-mcount", "ftrace bookkeeping"),
    ("-flto*", "LTO scatters code into several sections"),
    ("-ffat-lto-objects", "LTO"),
    ("-fprofile-*", "PGO/coverage runtime, .text.hot sections"),
    ("-fauto-profile*", "PGO, .text.hot sections"),
    ("-ftest-coverage", "needs the gcov runtime"),
    ("--coverage", "needs the gcov runtime"),
    ("-fsanitize*", "needs a sanitizer runtime"),
    ("-fPIE", "GOT relocations"), ("-fpie", "GOT relocations"),
    ("-pie", "GOT relocations"),
    ("-fPIC", "conflicts with CODE_MODEL"), ("-fpic", "conflicts with CODE_MODEL"),
    ("-fno-pic", "conflicts with CODE_MODEL"),
    ("-mcmodel=*", "conflicts with CODE_MODEL"),
    ("-mfunction-return=*", "needs __x86_return_thunk"),
    ("-mindirect-branch*", "needs __x86_indirect_thunk_*"),
    ("-fasynchronous-unwind-tables", "unwind tables only add weight"),
    ("-funwind-tables", "unwind tables only add weight"),
    ("-fexceptions", "unwind tables only add weight"),
    ("-fzero-call-used-regs*", "clobbers registers the handover relies on"),
    ("-g*", "debug info adds weight and build paths"),
    ("-O3", "auto-vectorises into SSE"),
    ("-ftree-vectorize", "auto-vectorises into SSE"),
    ("-ftree-loop-vectorize", "auto-vectorises into SSE"),
    ("-ftree-slp-vectorize", "auto-vectorises into SSE"),
    ("-msse*", "SSE state is off in purgatory"),
    ("-mavx*", "AVX state is off in purgatory"),
    ("-mmmx", "MMX state is off in purgatory"),
    ("-m3dnow*", "MMX state is off in purgatory"),
    ("-m32", "the purgatory is x86_64"), ("-mx32", "the purgatory is x86_64"),
    ("-m16", "the purgatory is x86_64"),
    ("-ffunction-sections", "several executable sections"),
)

# -march/-mtune are kept only at the baseline ISA.
BASELINE_MACHINE = {"-march=x86-64", "-mtune=generic", "-mtune=x86-64"}

# Flags that take their argument as the next word, which must stay with them.
FLAGS_WITH_SEPARATE_ARGUMENT = {"-include", "-imacros", "-isystem", "-idirafter",
                                "-iquote", "-I", "-D", "-U", "-MF", "-MT", "-MQ"}


def split_flags(value, variable):
    """Split a CFLAGS-like string the way a shell would."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    try:
        return shlex.split(value or "")
    except ValueError as e:
        raise UserError(f"{variable}: cannot parse {value!r}: {e}") from None


def breaking_reason(flag):
    """Why ``flag`` must not reach a purgatory compile, or None if it may."""
    if flag.startswith(("-march=", "-mtune=")):
        return None if flag in BASELINE_MACHINE else "beyond the x86-64 baseline ISA"
    for pattern, reason in BREAKING_FLAGS:
        if fnmatch.fnmatchcase(flag, pattern):
            return reason
    return None


def filter_user_flags(flags):
    """Split user flags into (kept, dropped); dropped keeps their order."""
    kept, dropped = [], []
    words = iter(flags)
    for flag in words:
        if flag in FLAGS_WITH_SEPARATE_ARGUMENT:
            argument = next(words, "")
            if breaking_reason(flag + argument):
                dropped += [flag, argument]
            else:
                kept += [flag, argument]
        elif breaking_reason(flag):
            dropped.append(flag)
        else:
            kept.append(flag)
    return kept, dropped


def code_model_flags(model):
    """Compiler flags of a CODE_MODEL value, or a UserError naming it."""
    try:
        return CODE_MODELS[model]
    except KeyError:
        raise UserError(f"CODE_MODEL: unknown code model {model!r} "
                        f"(choose one of: {', '.join(CODE_MODELS)})") from None


def purgatory_cflags(model, user_cflags=(), user_cppflags=()):
    """The full flag list for C sources, user flags already filtered."""
    return [*TUNABLE_CFLAGS, *user_cppflags, *user_cflags,
            *MANDATORY_CFLAGS, *code_model_flags(model)]


def purgatory_asflags(model, user_cppflags=()):
    """The flag list for .S sources: preprocessor flags and the code model."""
    return [*user_cppflags, *MANDATORY_ASFLAGS, *code_model_flags(model)]


class FlagSet(NamedTuple):
    cflags: list
    asflags: list
    dropped_message: str      # None when nothing was dropped


def purgatory_flags(model, cflags="", cppflags=""):
    """The C and assembler flags of a CODE_MODEL with the user's CFLAGS and
    CPPFLAGS (strings or word lists) filtered, and the line that names
    what was dropped."""
    kept_c, dropped_c = filter_user_flags(split_flags(cflags, "CFLAGS"))
    kept_cpp, dropped_cpp = filter_user_flags(split_flags(cppflags, "CPPFLAGS"))
    return FlagSet(purgatory_cflags(model, kept_c, kept_cpp),
                   purgatory_asflags(model, kept_cpp),
                   dropped_message({"CFLAGS": dropped_c,
                                    "CPPFLAGS": dropped_cpp}))


# TEST ONLY (PURGATORY_TEST_DEBUG=1): debug info, which records the build
# directory; the reproducibility tests use it to prove repro catches that.
TEST_DEBUG_CFLAGS = ("-g",)


def prefix_map_flags(tree, output_dir):
    """Map the tree's and the output directory's absolute paths to ``.``.

    Sources are compiled by relative names, so without debug info no path
    reaches the object; this covers what still could (``__FILE__`` of a
    file named absolutely, debug info a user turns on). gcc applies the
    last matching map, so the output directory, when inside the tree, is
    mapped as itself rather than as ``./build``.
    """
    return [f"-ffile-prefix-map={tree}=.", f"-ffile-prefix-map={output_dir}=."]


def refuse_in_kernel_mode(values):
    """Kernel mode builds with Kbuild's flags: CFLAGS, CPPFLAGS and a
    CODE_MODEL given (``values``: {variable: value}) are refused, before
    anything is said about filtering them."""
    for variable, value in values.items():
        if value:
            raise UserError(f"{variable}: not used in kernel mode: the flags "
                            "are Kbuild's (KCFLAGS= passes extra ones to "
                            "Kbuild)")


def dropped_message(dropped_by_variable):
    """One line naming every dropped flag, or None when nothing was dropped."""
    parts = [f"{var}: {' '.join(flags)}"
             for var, flags in dropped_by_variable.items() if flags]
    if not parts:
        return None
    return ("purgatory: dropped flags that break a freestanding purgatory ("
            + "; ".join(parts) + ")")
