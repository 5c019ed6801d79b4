# SPDX-License-Identifier: GPL-2.0-only
"""This tree's purgatory sources, built outside SCons: for the host (the
SHA-256 paths against hashlib) or as purgatory.ro with edits (the checker's
simd-dispatch fixtures).

Both builds use the purgatory's own flags (``build.flags``); the host one
adds -DPURGATORY_HOST, which leaves out only the control-register writes
of arch/x86/sha256-ni.S (user mode cannot make them; the operating system
has SSE on already).
"""

import ctypes
import pathlib
import subprocess

from conftest import REPO, host_gcc
from kexec_purgatory.abi.x86_64 import SHA256_PATHS
from kexec_purgatory.build import flags

C_SOURCES = ("purgatory/purgatory.c", "purgatory/sha256.c", "purgatory/string.c")
ASM_SOURCES = ("arch/x86/setup-x86_64.S", "arch/x86/entry64.S", "arch/x86/stack.S")
SHA_NI = "arch/x86/sha256-ni.S"
INCLUDES = [f"-I{REPO / 'purgatory'}", f"-I{REPO / 'arch' / 'x86' / 'include'}"]
HOST = "-DPURGATORY_HOST"

# purgatory_sha256_path values (purgatory/sha256.h): what the host build is
# forced to, by name; "auto" leaves the choice to CPUID.
PATHS = {("auto" if value == 0 else name): value
         for value, name in enumerate(SHA256_PATHS)}


def _run(command, cwd):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stderr}"


def _sources(workdir, edits):
    """Copies of the sources in ``workdir`` with ``edits`` ({path: [(old,
    new)]}) applied, each of which must apply."""
    copies = {}
    for path in (*C_SOURCES, *ASM_SOURCES, SHA_NI):
        text = (REPO / path).read_text()
        for old, new in edits.get(path, ()):
            assert old in text, f"edit of {path} does not apply: {old!r}"
            text = text.replace(old, new)
        copy = pathlib.Path(workdir) / pathlib.Path(path).name
        copy.write_text(text)
        copies[path] = copy
    return copies


def host_library(workdir, wrapper, extra=(), defines=()):
    """sha256.c + string.c + sha256-ni.S + ``wrapper`` (C source text) as a
    shared library without libc, loaded."""
    workdir = pathlib.Path(workdir)
    (workdir / "wrapper.c").write_text(wrapper)
    ni = workdir / "sha256-ni.o"
    _run([host_gcc(), *flags.purgatory_asflags("pic"), HOST, *defines, "-c",
          "-o", str(ni), str(REPO / SHA_NI)], workdir)
    so = workdir / "libpurgatory_sha256.so"
    _run([host_gcc(), *flags.purgatory_cflags("pic"), "-Werror", HOST,
          "-DSHA256_SHA_NI", *defines,
          *INCLUDES, "-shared", "-nostdlib", "-Wl,-z,defs", "-o", str(so),
          "wrapper.c", str(REPO / "purgatory" / "sha256.c"),
          str(REPO / "purgatory" / "string.c"), *extra, str(ni)], workdir)
    return ctypes.CDLL(str(so))


def purgatory_ro(workdir, edits=None, asm_defines=(), sha_ni=True):
    """purgatory.ro of this tree, SHA256=auto (or, without ``sha_ni``,
    generic), linked with its linker script; ``edits`` as ``_sources``."""
    workdir = pathlib.Path(workdir)
    copies = _sources(workdir, edits or {})
    objects = []
    defines = ["-DSHA256_SHA_NI"] if sha_ni else ["-DSHA256_GENERIC_ONLY"]
    for path in (*ASM_SOURCES, *C_SOURCES, *((SHA_NI,) if sha_ni else ())):
        obj = copies[path].with_suffix(".o")
        if path.endswith(".S"):
            command = [host_gcc(), *flags.purgatory_asflags("pic"), *asm_defines]
        else:
            command = [host_gcc(), *flags.purgatory_cflags("pic"), *defines]
        _run([*command, *INCLUDES, "-c", "-o", str(obj), str(copies[path])],
             workdir)
        objects.append(str(obj))
    ro = workdir / "purgatory.ro"
    _run(["ld", "-r", "-T", str(REPO / "arch" / "x86" / "purgatory.lds"),
          "-e", "purgatory_start", "-z", "nodefaultlib", "-o", str(ro),
          *objects], workdir)
    return ro
