# SPDX-License-Identifier: GPL-2.0-only
"""The compiler and linker flags Kbuild uses, as a table gated by .config.

Each row appends words to one Kbuild variable, in the order the kernel's
Makefiles do (order matters: a later ``-O`` or ``-g`` wins), and says which
config options gate it and whether Kbuild probes the compiler first.  The rows
were derived by reading Linux 6.1.y (top ``Makefile``, ``arch/x86/Makefile``,
``scripts/Makefile.extrawarn``, ``scripts/Makefile.debug``); a new kernel
version means new rows with ``since``/``until`` bounds, and a wider
``SUPPORTED`` range once its ``.cmd`` files agree (tests/test_kernel_*).

Variables: ``CPPFLAGS``/``CFLAGS``/``AFLAGS``/``LDFLAGS`` are Kbuild's
``KBUILD_*`` ones, ``CFLAGS_KERNEL`` is ``KBUILD_CFLAGS_KERNEL`` (built-in
objects only); any other name is a named group (``RETPOLINE_CFLAGS``, ...)
that later rows use as ``$NAME``, and that the purgatory's Makefile removes.

``when`` is a condition on the configuration: ``FOO`` (``CONFIG_FOO`` set),
``!FOO``, ``FOO != 0`` / ``FOO == x`` (value), ``GCC_VERSION >= 90100``,
joined with ``&&``.  ``{FOO}`` in words is replaced by CONFIG_FOO's value.
"""

import re
from dataclasses import dataclass

from ..errors import UserError
from . import probe

# Kernel versions whose Kbuild these rows reproduce: [first, end).  6.1.93
# brought the purgatory's small PIC code model to 6.1.y; verified on 6.1.192.
SUPPORTED = ((6, 1, 93), (6, 2, 0))

# How Kbuild decides to keep a row's words.
ALWAYS = ""
CC_OPTION = "cc-option"            # $(call cc-option,W): CC accepts W
CC_DISABLE_WARNING = "cc-disable"  # -Wno-X kept when CC accepts -WX
LD_OPTION = "ld-option"            # $(call ld-option,W): LD accepts W


@dataclass(frozen=True)
class Row:
    var: str
    words: str
    when: str = ""
    check: str = ALWAYS
    probe: str = ""       # the flag probed, when it differs from the words
    since: tuple = ()
    until: tuple = ()


ROWS = (
    # -- Makefile: the base sets.
    Row("AFLAGS", "-D__ASSEMBLY__ -fno-PIE"),
    Row("CFLAGS", "-Wall -Wundef -Werror=strict-prototypes -Wno-trigraphs "
        "-fno-strict-aliasing -fno-common -fshort-wchar -fno-PIE "
        "-Werror=implicit-function-declaration -Werror=implicit-int "
        "-Werror=return-type -Wno-format-security -std=gnu11"),
    Row("CPPFLAGS", "-D__KERNEL__"),
    Row("CC_FLAGS_FTRACE", "-pg", when="FUNCTION_TRACER"),

    # -- arch/x86/Makefile.
    Row("RETPOLINE_CFLAGS", "-mindirect-branch=thunk-extern "
        "-mindirect-branch-register", check=CC_OPTION),
    Row("RETPOLINE_CFLAGS", "-mindirect-branch-cs-prefix", check=CC_OPTION),
    Row("RETPOLINE_CFLAGS", "-mfunction-return=thunk-extern", when="RETHUNK"),
    Row("CFLAGS", "-mno-sse -mno-mmx -mno-sse2 -mno-3dnow -mno-avx"),
    Row("CFLAGS", "-fcf-protection=branch -fno-jump-tables",
        when="X86_KERNEL_IBT", check=CC_OPTION),
    Row("CFLAGS", "-fcf-protection=none", when="!X86_KERNEL_IBT",
        check=CC_OPTION),
    Row("AFLAGS", "-m64"),
    Row("CFLAGS", "-m64"),
    Row("CFLAGS", "-falign-jumps=1", check=CC_OPTION),
    Row("CFLAGS", "-falign-loops=1", check=CC_OPTION),
    Row("CFLAGS", "-mno-80387"),
    Row("CFLAGS", "-mno-fp-ret-in-387", check=CC_OPTION),
    # cc_stack_align8: chosen when the compiler knows the gcc spelling.
    Row("CFLAGS", "-mpreferred-stack-boundary=3", check=CC_OPTION,
        probe="-mpreferred-stack-boundary=4"),
    Row("CFLAGS", "-mskip-rax-setup", check=CC_OPTION),
    Row("CFLAGS", "-march=k8", when="MK8"),
    Row("CFLAGS", "-march=nocona", when="MPSC"),
    Row("CFLAGS", "-march=core2", when="MCORE2"),
    Row("CFLAGS", "-march=atom", when="MATOM"),
    Row("CFLAGS", "-mtune=generic", when="GENERIC_CPU"),
    Row("CFLAGS", "-mno-red-zone"),
    Row("CFLAGS", "-mcmodel=kernel"),
    Row("CFLAGS", "-maccumulate-outgoing-args",
        when="FUNCTION_GRAPH_TRACER && !HAVE_FENTRY", check=CC_OPTION),
    Row("CFLAGS", "-Wno-sign-compare"),
    Row("CFLAGS", "-fno-asynchronous-unwind-tables"),
    Row("CFLAGS", "$RETPOLINE_CFLAGS", when="RETPOLINE"),
    Row("CFLAGS", "-fno-jump-tables", when="RETPOLINE"),
    Row("CFLAGS", "-mharden-sls=all", when="SLS"),
    Row("LDFLAGS", "-m elf_x86_64"),

    # -- Makefile, after the arch Makefile.
    Row("CFLAGS", "-fno-delete-null-pointer-checks"),
    Row("CFLAGS", "-Wno-frame-address", check=CC_DISABLE_WARNING),
    Row("CFLAGS", "-Wno-format-truncation", check=CC_DISABLE_WARNING),
    Row("CFLAGS", "-Wno-format-overflow", check=CC_DISABLE_WARNING),
    Row("CFLAGS", "-Wno-address-of-packed-member", check=CC_DISABLE_WARNING),
    Row("CFLAGS", "-O2", when="CC_OPTIMIZE_FOR_PERFORMANCE"),
    Row("CFLAGS", "-Os",
        when="!CC_OPTIMIZE_FOR_PERFORMANCE && CC_OPTIMIZE_FOR_SIZE"),
    Row("CFLAGS", "--param=allow-store-data-races=0", check=CC_OPTION),
    Row("CFLAGS", "-fno-allow-store-data-races", check=CC_OPTION),
    Row("CFLAGS", "-fno-reorder-blocks -fno-ipa-cp-clone "
        "-fno-partial-inlining", when="READABLE_ASM"),
    Row("CFLAGS", "-Wframe-larger-than={FRAME_WARN}", when="FRAME_WARN != 0"),
    Row("CFLAGS", "-fno-stack-protector", when="!STACKPROTECTOR"),
    Row("CFLAGS", "-fstack-protector",
        when="STACKPROTECTOR && !STACKPROTECTOR_STRONG"),
    Row("CFLAGS", "-fstack-protector-strong", when="STACKPROTECTOR_STRONG"),
    Row("CFLAGS_Y", "-Werror", when="WERROR"),
    Row("CFLAGS_Y", "-Wno-array-bounds", when="CC_NO_ARRAY_BOUNDS"),
    Row("CFLAGS", "-Wno-main"),
    Row("CFLAGS", "-Wno-unused-but-set-variable", check=CC_DISABLE_WARNING),
    Row("CFLAGS", "-Wno-unused-const-variable", check=CC_DISABLE_WARNING),
    Row("CFLAGS", "-Wno-dangling-pointer", check=CC_DISABLE_WARNING),
    Row("CFLAGS", "-fno-omit-frame-pointer -fno-optimize-sibling-calls",
        when="FRAME_POINTER"),
    Row("CFLAGS", "-fomit-frame-pointer",
        when="!FRAME_POINTER && !FUNCTION_TRACER"),
    Row("CFLAGS", "-ftrivial-auto-var-init=pattern",
        when="INIT_STACK_ALL_PATTERN"),
    Row("CFLAGS", "-ftrivial-auto-var-init=zero", when="INIT_STACK_ALL_ZERO"),
    Row("CFLAGS", "-fno-stack-clash-protection", check=CC_OPTION),
    Row("CFLAGS", "-fzero-call-used-regs=used-gpr",
        when="ZERO_CALL_USED_REGS"),
    Row("CC_FLAGS_FTRACE", "-mrecord-mcount",
        when="FUNCTION_TRACER && FTRACE_MCOUNT_USE_CC"),
    Row("CC_FLAGS_FTRACE", "-mnop-mcount", check=CC_OPTION,
        when="FUNCTION_TRACER && FTRACE_MCOUNT_USE_CC && HAVE_NOP_MCOUNT"),
    Row("CC_FLAGS_USING", "-DCC_USING_NOP_MCOUNT", check=CC_OPTION,
        probe="-mnop-mcount",
        when="FUNCTION_TRACER && FTRACE_MCOUNT_USE_CC && HAVE_NOP_MCOUNT"),
    Row("CC_FLAGS_USING", "-DCC_USING_NOP_MCOUNT",
        when="FUNCTION_TRACER && FTRACE_MCOUNT_USE_OBJTOOL"),
    Row("CC_FLAGS_FTRACE", "-mfentry", check=CC_OPTION,
        when="FUNCTION_TRACER && HAVE_FENTRY"),
    Row("CC_FLAGS_USING", "-DCC_USING_FENTRY", check=CC_OPTION,
        probe="-mfentry", when="FUNCTION_TRACER && HAVE_FENTRY"),
    Row("CFLAGS", "$CC_FLAGS_FTRACE $CC_FLAGS_USING", when="FUNCTION_TRACER"),
    Row("AFLAGS", "$CC_FLAGS_USING", when="FUNCTION_TRACER"),
    Row("CFLAGS", "-fno-inline-functions-called-once",
        when="DEBUG_SECTION_MISMATCH"),
    Row("CFLAGS_KERNEL", "-ffunction-sections -fdata-sections",
        when="LD_DEAD_CODE_DATA_ELIMINATION"),
    Row("CFLAGS", "-falign-functions=64",
        when="DEBUG_FORCE_FUNCTION_ALIGN_64B"),
    Row("CFLAGS", "-Wvla"),
    Row("CFLAGS", "-Wno-pointer-sign"),
    Row("CFLAGS", "-Wcast-function-type", check=CC_OPTION),
    Row("CFLAGS", "-Wno-stringop-truncation", check=CC_DISABLE_WARNING),
    Row("CFLAGS", "-Wno-stringop-overflow", check=CC_DISABLE_WARNING),
    Row("CFLAGS", "-Wno-restrict", check=CC_DISABLE_WARNING),
    Row("CFLAGS", "-Wno-maybe-uninitialized"),
    Row("CFLAGS_Y", "-Wno-alloc-size-larger-than",
        when="GCC_VERSION >= 90100"),
    Row("CFLAGS", "$CFLAGS_Y {CC_IMPLICIT_FALLTHROUGH}"),
    Row("CFLAGS", "-fno-strict-overflow"),
    Row("CFLAGS", "-fno-stack-check"),
    Row("CFLAGS", "-fconserve-stack"),
    Row("CFLAGS", "-Werror=date-time"),
    Row("CFLAGS", "-Werror=incompatible-pointer-types", check=CC_OPTION),
    Row("CFLAGS", "-Werror=designated-init", check=CC_OPTION),
    Row("CFLAGS", "-fno-builtin-wcslen"),
    Row("CPPFLAGS", "-fmacro-prefix-map={srctree}/=", check=CC_OPTION),

    # -- scripts/Makefile.extrawarn (without W=).
    Row("CFLAGS", "-Wno-packed-not-aligned", check=CC_DISABLE_WARNING),

    # -- scripts/Makefile.debug.
    Row("DEBUG_CFLAGS", "-gsplit-dwarf", when="DEBUG_INFO && DEBUG_INFO_SPLIT"),
    Row("DEBUG_CFLAGS", "-g", when="DEBUG_INFO"),
    Row("DEBUG_CFLAGS", "-gdwarf-4", when="DEBUG_INFO && DEBUG_INFO_DWARF4"),
    Row("DEBUG_CFLAGS", "-gdwarf-5", when="DEBUG_INFO && DEBUG_INFO_DWARF5"),
    Row("AFLAGS", "-g", when="DEBUG_INFO"),
    Row("AFLAGS", "-gdwarf-4", when="DEBUG_INFO && DEBUG_INFO_DWARF4"),
    Row("AFLAGS", "-gdwarf-5", when="DEBUG_INFO && DEBUG_INFO_DWARF5"),
    Row("DEBUG_CFLAGS", "-fno-var-tracking -femit-struct-debug-baseonly",
        when="DEBUG_INFO && DEBUG_INFO_REDUCED"),
    Row("DEBUG_CFLAGS", "-gz=zlib", when="DEBUG_INFO && DEBUG_INFO_COMPRESSED"),
    Row("AFLAGS", "-gz=zlib", when="DEBUG_INFO && DEBUG_INFO_COMPRESSED"),
    Row("LDFLAGS", "--compress-debug-sections=zlib",
        when="DEBUG_INFO && DEBUG_INFO_COMPRESSED"),
    Row("CFLAGS", "$DEBUG_CFLAGS", when="DEBUG_INFO"),

    # -- Makefile, linker.
    Row("LDFLAGS", "-z noexecstack"),
    Row("LDFLAGS", "--no-warn-rwx-segments", when="LD_IS_BFD",
        check=LD_OPTION),

    # -- arch/x86/purgatory/Makefile.  PURGATORY_FILTER_OUT leaves
    # KBUILD_CFLAGS for every object; PURGATORY_CFLAGS_REMOVE leaves and
    # PURGATORY_CFLAGS joins the C objects' flags; ASFLAGS_REMOVE leaves the
    # assembler objects' flags.
    Row("PURGATORY_FILTER_OUT", "-fprofile-sample-use=% -fprofile-use=%",
        since=(6, 1, 35)),
    Row("PURGATORY_FILTER_OUT", "$CC_FLAGS_LTO", since=(6, 1, 55)),
    Row("PURGATORY_CFLAGS_REMOVE", "-mcmodel=kernel"),
    Row("PURGATORY_CFLAGS", "-mcmodel=small -ffreestanding "
        "-fno-zero-initialized-in-bss -g0", since=(6, 1, 93)),
    Row("PURGATORY_CFLAGS", "-fpic -fvisibility=hidden", since=(6, 1, 93)),
    Row("PURGATORY_CFLAGS", "$DISABLE_STACKLEAK_PLUGIN "
        "-DDISABLE_BRANCH_PROFILING"),
    Row("PURGATORY_CFLAGS", "-fno-stack-protector"),
    Row("PURGATORY_CFLAGS_REMOVE", "$CC_FLAGS_FTRACE", when="FUNCTION_TRACER"),
    Row("PURGATORY_CFLAGS_REMOVE", "-fstack-protector", when="STACKPROTECTOR"),
    Row("PURGATORY_CFLAGS_REMOVE", "-fstack-protector-strong",
        when="STACKPROTECTOR_STRONG"),
    Row("PURGATORY_CFLAGS_REMOVE", "$RETPOLINE_CFLAGS", when="RETPOLINE"),
    Row("PURGATORY_CFLAGS_REMOVE", "$CC_FLAGS_CFI", when="CFI_CLANG"),
    Row("ASFLAGS_REMOVE", "-g -Wa,-g -gdwarf-4 -Wa,-gdwarf-4 "
        "-gdwarf-5 -Wa,-gdwarf-5"),
    # KASAN_SANITIZE := n gives C objects scripts/Makefile.kasan's
    # CFLAGS_KASAN_NOSANITIZE (software KASAN only).
    Row("NOSANITIZE_CFLAGS", "-fno-builtin", when="KASAN && !KASAN_HW_TAGS"),
    Row("CFLAGS_sha256.o", "-D__DISABLE_EXPORTS"),
    Row("LDFLAGS_purgatory.ro", "-r -e purgatory_start -z nodefaultlib"),
    Row("LDFLAGS_purgatory.chk", "-e purgatory_start -z nodefaultlib"),
)

# Options whose Kbuild effects these rows do not model: refuse them rather
# than build something that only looks right.
UNMODELLED = {
    "CC_IS_CLANG": "scripts/Makefile.clang (kernel mode supports gcc)",
    "GCC_PLUGINS": "scripts/Makefile.gcc-plugins",
    "RANDSTRUCT_FULL": "scripts/Makefile.randstruct",
    "RANDSTRUCT_PERFORMANCE": "scripts/Makefile.randstruct",
    "LTO_CLANG": "the LTO flags of the top Makefile",
    "CFI_CLANG": "the CFI flags of the top Makefile",
}


def _term_holds(term, config):
    term = term.strip()
    for op in (">=", "!=", "=="):
        if op in term:
            name, value = (part.strip() for part in term.split(op))
            have = config[name] or "0"
            if op == ">=":
                return int(have, 0) >= int(value, 0)
            return (have == value) == (op == "==")
    if term.startswith("!"):
        return not config.enabled(term[1:])
    return config.enabled(term)


def holds(when, config):
    """True when every ``&&`` term of ``when`` holds for ``config``."""
    return all(_term_holds(t, config) for t in when.split("&&")) if when \
        else True


def _in_version_range(row, version):
    return (not row.since or version >= row.since) and \
        (not row.until or version < row.until)


class KbuildFlags:
    """The evaluated variables: ``flags["CFLAGS"]`` is a list of words."""

    def __init__(self, variables):
        self.variables = variables

    def __getitem__(self, name):
        return list(self.variables.get(name, ()))


def check_supported(tree):
    """One line naming what kernel mode cannot reproduce for ``tree``."""
    first, end = SUPPORTED
    if not first <= tree.version < end:
        raise UserError(
            f"KERNEL={tree.src}: Linux {tree.version_text} is not known to "
            "kernel mode (it knows "
            f"{'.'.join(map(str, first))} up to {end[0]}.{end[1]}): add its "
            "flags to site_scons/kexec_purgatory/kernel/flags.py")
    for option, where in UNMODELLED.items():
        if tree.config.enabled(option):
            raise UserError(f"{tree.obj}/.config: CONFIG_{option} is set and "
                            f"kernel mode does not model {where}")


def _expand(words, config, variables, srctree):
    out = []
    for word in words.split():
        if word.startswith("$"):
            out += variables.get(word[1:], [])
        elif word.startswith("{") and word.endswith("}"):
            out += config[word[1:-1]].split()
        elif "{srctree}" in word:
            out.append(word.replace("{srctree}", srctree))
        else:
            out.append(re.sub(r"\{(\w+)\}", lambda m: config[m[1]], word))
    return out


def _keep(row, words, variables, cc, ld):
    if row.check == ALWAYS:
        return True
    context = tuple(variables.get("CPPFLAGS", []) +
                    variables.get("CFLAGS", []))
    if row.check == CC_OPTION:
        probed = tuple(row.probe.split()) if row.probe else tuple(words)
        return probe.cc_accepts(tuple(cc), context, probed)
    if row.check == CC_DISABLE_WARNING:
        return probe.cc_accepts(tuple(cc), context,
                                tuple("-W" + w[len("-Wno-"):] for w in words))
    if row.check == LD_OPTION:
        return probe.ld_accepts(tuple(ld), tuple(variables.get("LDFLAGS", [])),
                                tuple(words))
    raise ValueError(f"unknown check {row.check!r}")


def derive(tree, srctree, cc=("gcc",), ld=("ld",)):
    """Evaluate ROWS for ``tree``; ``srctree`` is the spelling of the source
    tree the command lines will use (Kbuild's, or an absolute path)."""
    check_supported(tree)
    variables = {}
    for row in ROWS:
        if not _in_version_range(row, tree.version) or \
                not holds(row.when, tree.config):
            continue
        words = _expand(row.words, tree.config, variables, srctree)
        if words and _keep(row, words, variables, cc, ld):
            variables.setdefault(row.var, []).extend(words)
    return KbuildFlags(variables)
