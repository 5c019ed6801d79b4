# SPDX-License-Identifier: GPL-2.0-only
"""Small ELF objects made with the real toolchain for loader and emulator tests.

Each helper writes its source into a directory, runs gcc, as, ld or objcopy
on it and returns the path of the result, so every test reads a file that a
real tool produced.
"""

import os
import subprocess
from pathlib import Path

from kexec_purgatory.build import flags

DATA = Path(__file__).resolve().parent / "data"
ABI_STUB = DATA / "abi-stub.S"


def run_tool(command, cwd):
    result = subprocess.run([str(c) for c in command], cwd=cwd,
                            capture_output=True, text=True)
    if result.returncode:
        raise AssertionError(f"{' '.join(map(str, command))} failed:\n"
                             f"{result.stdout}{result.stderr}")
    return result


def host_gcc():
    return os.environ.get("HOST_CC", "gcc")


def compile_c(directory, name, text, cflags):
    """``text`` as ``name``.c compiled with exactly ``cflags``; the .o path."""
    directory = Path(directory)
    source = directory / f"{name}.c"
    source.write_text(text)
    obj = directory / f"{name}.o"
    run_tool([host_gcc(), *cflags, "-c", source, "-o", obj], directory)
    return obj


def purgatory_cflags(model="pic", extra=()):
    """The project's own purgatory flags, then ``extra`` (which win)."""
    return [*flags.purgatory_cflags(model), *extra]


def assemble(directory, source, defines=(), output=None, model="pic"):
    """A .S file preprocessed and assembled with the project's asm flags."""
    directory = Path(directory)
    obj = directory / (output or f"{Path(source).stem}.o")
    run_tool([host_gcc(), *flags.purgatory_asflags(model),
              *(f"-D{d}" for d in defines), "-c", source, "-o", obj], directory)
    return obj


def assemble_text(directory, name, text, defines=()):
    source = Path(directory) / f"{name}.S"
    source.write_text(text)
    return assemble(directory, source, defines)


def link_relocatable(directory, objects, output="purgatory.ro"):
    """``ld -r -e purgatory_start -z nodefaultlib``, as the kernel's build."""
    out = Path(directory) / output
    run_tool(["ld", "-r", "-e", "purgatory_start", "-z", "nodefaultlib",
              "-o", out, *objects], directory)
    return out


def abi_stub(directory, *defines):
    """The ABI stub (tests/data/abi-stub.S) with -D knobs, linked."""
    directory = Path(directory)
    tag = "-".join(d.split("=")[0].lower() for d in defines) or "plain"
    obj = assemble(directory, ABI_STUB, defines, output=f"abi-stub-{tag}.o")
    return link_relocatable(directory, [obj], f"abi-stub-{tag}.ro")


def rel_object(directory, text):
    """An x86_64 ELF64 object with SHT_REL relocations: assembled for i386
    (which uses REL) and converted by objcopy, which keeps the REL section."""
    directory = Path(directory)
    source = directory / "rel.s"
    source.write_text(text)
    obj32, obj64 = directory / "rel32.o", directory / "rel64.o"
    run_tool(["as", "--32", "-o", obj32, source], directory)
    run_tool(["objcopy", "-I", "elf32-i386", "-O", "elf64-x86-64", obj32, obj64],
             directory)
    return obj64
