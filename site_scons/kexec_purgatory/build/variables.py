# SPDX-License-Identifier: GPL-2.0-only
"""The command-line variables of a purgatory build, as plain data.

``TOOL_VARIABLES`` are the tool's own: the SCons tool adds them through
its ``options(opts)`` hook, so every tree that loads the tool has them.
``BUILD_VARIABLES`` are a tree's policy (toolchain, flags, output and
install directories, kernel mode): a tree picks the ones it offers by name
(``scons.tool.add_variables``), as this project's SConstruct does.
"""

from dataclasses import dataclass

from ..formats import DEFAULT_FORMATS
from ..formats.ihex import DEFAULT_LOAD_ADDR


@dataclass(frozen=True)
class Variable:
    name: str
    help: str
    default: object
    kind: str = "string"          # string | bool | enum
    allowed: tuple = ()


_ALL = (
    Variable("CROSS_COMPILE", "prefix of the toolchain's commands, "
             "e.g. x86_64-linux-gnu-", ""),
    Variable("CC", "C compiler (also assembles .S)", "${CROSS_COMPILE}gcc"),
    Variable("LD", "linker", "${CROSS_COMPILE}ld"),
    Variable("OBJCOPY", "objcopy", "${CROSS_COMPILE}objcopy"),
    Variable("CFLAGS", "extra C flags; flags that break a freestanding "
             "purgatory are dropped and named", ""),
    Variable("CPPFLAGS", "extra preprocessor flags (C and .S), filtered "
             "like CFLAGS", ""),
    Variable("LDFLAGS", "accepted for packaging, never used: purgatory.ro "
             "is linked with ld -r, and LDFLAGS are compiler-driver flags", ""),
    Variable("CODE_MODEL", "pic: -fpic -mcmodel=small -fvisibility=hidden "
             "(arch/x86/purgatory/Makefile of Linux 6.1.192, 6.12.117 and 7.2); "
             "large: -mcmodel=large -fno-pic (older kernels)", "pic",
             kind="enum", allowed=("pic", "large")),
    Variable("SHA256", "auto: the purgatory picks its SHA-256 with CPUID "
             "(SHA-NI, BMI2, baseline); generic: baseline x86-64 only, no "
             "CPUID, no SSE", "auto", kind="enum", allowed=("auto", "generic")),
    Variable("ARRAY_SYMBOL", "name of the embedded byte array",
             "kexec_purgatory"),
    Variable("SIZE_SYMBOL", "name of the embedded size variable",
             "kexec_purgatory_size"),
    Variable("FORMATS", "embedded forms to write, comma-separated: c "
             "(kexec-purgatory.c), S (kexec-purgatory.S, .incbin), ihex "
             "(purgatory.hex, relocated at LOAD_ADDR)", DEFAULT_FORMATS),
    Variable("LOAD_ADDR", "address the ihex format relocates the image to "
             "(page aligned, below 4 GiB)", DEFAULT_LOAD_ADDR),
    Variable("V", "1: print full command lines instead of one line a step",
             False, kind="bool"),
    Variable("TEST_RUN", "run purgatory.ro in emulation before embedding it "
             "(the RUN gate: the lowest and highest test address, entering "
             "the kernel and refusing a corrupted segment; about 0.4 s)",
             True, kind="bool"),
    Variable("O", "output directory (the source tree stays clean)", "build"),
    Variable("CACHEDIR", "SCons cache directory shared between builds "
             "(outputs are the same with or without it)", ""),
    Variable("PURGATORY_TEST_DEBUG", "TEST ONLY, never for a real build: "
             "debug info and no path mapping, so that the reproducibility "
             "tests can prove 'repro' catches a path-dependent build",
             False, kind="bool"),
    Variable("KERNEL", "kernel mode: a Linux source tree whose own "
             "arch/ARCH/purgatory is built with Kbuild's commands, byte for "
             "byte (SRC is only read)", ""),
    Variable("KERNEL_O", "kernel mode: KERNEL's configured, prepared output "
             "directory (make O=... olddefconfig prepare); default: KERNEL",
             ""),
    Variable("ARCH", "kernel mode: Kbuild's ARCH (default: as KERNEL_O "
             "was configured)", ""),
    Variable("KCFLAGS", "kernel mode: extra compiler flags, passed to Kbuild",
             ""),
    Variable("W", "kernel mode: Kbuild's extra warnings (W=1...), passed to "
             "Kbuild", ""),
    Variable("BOOT_KERNEL_O", "scons boot-test: where the small kernel is "
             "built from KERNEL and kept (about 7 minutes the first time)",
             "$O/boot-test/kernel"),
    Variable("BOOT_TEST_ARGS", "scons boot-test: more options for "
             "kexec-purgatory boot-test (e.g. --modes normal --cpu max)", ""),
    Variable("PREFIX", "installation prefix", "/usr/local"),
    Variable("DESTDIR", "staging directory prepended to PREFIX by "
             "'scons install'", ""),
)

_TOOL_NAMES = ("CODE_MODEL", "ARRAY_SYMBOL", "SIZE_SYMBOL", "FORMATS",
               "LOAD_ADDR", "V", "TEST_RUN")
TOOL_VARIABLES = tuple(v for v in _ALL if v.name in _TOOL_NAMES)
BUILD_VARIABLES = {v.name: v for v in _ALL if v.name not in _TOOL_NAMES}
