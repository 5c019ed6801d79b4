# SPDX-License-Identifier: GPL-2.0-only
"""Which compiler flag or source pattern usually leaves a given symbol undefined.

Each of these names was, in a real kernel or kexec-tools build, the only
sign that instrumentation or a library dependency had leaked into the
purgatory; the hint saves the reader from recognising the name.
"""

import fnmatch

# (shell patterns, hint). First match wins.
UNDEFINED_SYMBOL_HINTS = (
    (("__stack_chk_fail", "__stack_chk_fail_local", "__stack_chk_guard"),
     "stack protector instrumentation: build with -fno-stack-protector"),
    (("__fentry__", "mcount", "_mcount", "__mcount"),
     "ftrace instrumentation from -pg/-mfentry: drop -pg for the purgatory"),
    (("__asan_*", "__kasan_*", "__hwasan_*"),
     "KASAN instrumentation (-fsanitize=kernel-address): drop it for the purgatory"),
    (("__ubsan_*",), "UBSAN instrumentation (-fsanitize=undefined): drop it"),
    (("__tsan_*", "__kcsan_*"), "KCSAN instrumentation (-fsanitize=thread): drop it"),
    (("__msan_*", "__kmsan_*"), "KMSAN instrumentation (-fsanitize=kernel-memory): drop it"),
    (("__sanitizer_cov_*",), "KCOV instrumentation (-fsanitize-coverage): drop it"),
    (("__gcov_*", "__llvm_gcov_*", "__llvm_profile_*"),
     "GCOV/profiling instrumentation (-fprofile-arcs, --coverage, PGO): drop it"),
    (("__x86_return_thunk",),
     "return thunks from -mfunction-return=thunk-extern: use -mfunction-return=keep"),
    (("__x86_indirect_thunk_*", "__x86_indirect_call_thunk_*",
      "__x86_indirect_jump_thunk_*"),
     "retpolines from -mindirect-branch=thunk-extern: use -mindirect-branch=keep"),
    (("__cfi_*", "__kcfi_*"), "control-flow integrity (-fsanitize=cfi/kcfi): drop it"),
    (("__*_chk", "__fortify_*"),
     "a _FORTIFY_SOURCE checking call: build without -D_FORTIFY_SOURCE"),
    (("memzero_explicit",),
     "pulled in by the kernel's generic SHA-256 (the 2019 purgatory breakage): "
     "the purgatory must define it or use its own SHA-256"),
    (("memcpy", "memset", "memmove", "memcmp", "strlen"),
     "compilers emit calls to these even with -ffreestanding -fno-builtin: "
     "the purgatory must define them itself"),
    (("_GLOBAL_OFFSET_TABLE_",),
     "position-independent code that uses a GOT: build with -fvisibility=hidden "
     "and hidden extern declarations, or with -fno-pic"),
    (("__morestack",), "split stacks (-fsplit-stack): drop it"),
    (("__tls_get_addr", "__emutls_*"), "thread-local storage: a purgatory has no TLS"),
    (("__*di3", "__*ti3", "__*sf*", "__*df*", "__popcount*", "__bswap*"),
     "a libgcc helper: the purgatory links no libgcc; avoid the 128-bit or "
     "floating-point arithmetic that needs it"),
)


def undefined_symbol_hint(name):
    """The likely cause of ``name`` being undefined, or None."""
    for patterns, hint in UNDEFINED_SYMBOL_HINTS:
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return hint
    return None
