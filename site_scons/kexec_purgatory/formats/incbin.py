# SPDX-License-Identifier: GPL-2.0-only
"""kexec-purgatory.S: the ``.incbin`` form Linux uses since 6.0, written
only once the assembler proved it right, and read back.

The ``.incbin`` form holds no bytes itself: what it embeds depends on which
purgatory.ro the assembler finds. So the file is generated next to its
target, assembled there with the build's compiler driver, and the object is
read back with pyelftools: the array symbol must cover exactly the bytes of
purgatory.ro and the size symbol must hold their count. Only then is the
file renamed into place; the object is thrown away. Read back, the file
gives the bytes of the object it includes, looked up as the assembler
would.
"""

import os
import re
import subprocess
import tempfile

from ..errors import UserError
from ..files import read_bytes, require_output_directory, write_atomically
from .blob import Blob, text_of
from .embedding import (DEFAULT_ARRAY_SYMBOL, DEFAULT_SIZE_SYMBOL,
                        checked_header)

NAME = "S"
DEFAULT_OUTPUT = "kexec-purgatory.S"
DESCRIPTION = ".incbin assembler file"



def _global_symbol(elf, name, obj):
    symtab = elf.get_section_by_name(".symtab")
    matches = symtab.get_symbol_by_name(name) if symtab else None
    if not matches or matches[0]["st_info"]["bind"] != "STB_GLOBAL" \
            or not isinstance(matches[0]["st_shndx"], int):
        raise UserError(f"{obj}: no global defined symbol {name}")
    return matches[0]


def verify_object(obj, data, array_symbol, size_symbol):
    """Check an assembled kexec-purgatory.S: raise UserError on any mismatch."""
    # Imported here: the SCons tool imports this module on every run, null
    # builds included, and pyelftools takes ~25 ms to import.
    from ..elf.reader import damaged_elf_is_user_error, open_elf

    elf = open_elf(obj)
    with damaged_elf_is_user_error(obj):
        array = _global_symbol(elf, array_symbol, obj)
        size = _global_symbol(elf, size_symbol, obj)
        for sym in (array, size):
            section = elf.get_section(sym["st_shndx"])
            if section.name != ".rodata" or section["sh_type"] != "SHT_PROGBITS":
                raise UserError(f"{obj}: {sym.name} is in {section.name}, "
                                "not in .rodata")
            if section["sh_addralign"] < 8 or sym["st_value"] % 8:
                raise UserError(f"{obj}: {sym.name} is not 8-byte aligned")
        rodata = elf.get_section(array["st_shndx"]).data()
        start, end = array["st_value"], array["st_value"] + len(data)
        if array["st_size"] != len(data) or rodata[start:end] != data:
            raise UserError(f"{obj}: {array_symbol} does not hold the "
                            f"{len(data)} bytes of purgatory.ro")
        at = size["st_value"]
        order = "little" if elf.little_endian else "big"
        if size["st_size"] != 8 or \
                int.from_bytes(rodata[at:at + 8], order) != len(data):
            raise UserError(f"{obj}: {size_symbol} is not the 8-byte "
                            f"value {len(data)}")
        if any(s["sh_type"] in ("SHT_RELA", "SHT_REL")
               for s in elf.iter_sections()):
            raise UserError(f"{obj}: the embedded purgatory needs relocations")


def incbin_text(data, source_name, array_symbol=DEFAULT_ARRAY_SYMBOL,
               size_symbol=DEFAULT_SIZE_SYMBOL, incbin_path=None):
    """The text of kexec-purgatory.S: the ``.incbin`` form Linux uses since 6.0.

    The bytes stay in purgatory.ro, which the assembler reads from
    ``incbin_path`` (default: ``source_name``), looked up in its working
    directory and then in its ``-I`` directories. The file asserts the size
    it was generated for, so assembling it against another purgatory.ro
    fails instead of embedding the wrong blob.
    """
    head = checked_header(data, source_name, array_symbol, size_symbol)
    path = source_name if incbin_path is None else incbin_path
    if not path or any(c in path for c in '"\\\n'):
        raise UserError(f"incbin path: {path!r} cannot be written in a "
                        ".incbin directive")
    return (
        f"{head}\n"
        "\t.section .rodata, \"a\"\n"
        "\t.align 8\n"
        f"\t.globl {array_symbol}\n"
        f"\t.type {array_symbol}, @object\n"
        f"{array_symbol}:\n"
        f"\t.incbin \"{path}\"\n"
        ".Lpurgatory_end:\n"
        f"\t.size {array_symbol}, .Lpurgatory_end - {array_symbol}\n"
        f"\t.if .Lpurgatory_end - {array_symbol} - {len(data)}\n"
        f"\t.error \"{path} is not the {len(data)}-byte file this was "
        "generated from\"\n"
        "\t.endif\n"
        "\n"
        "\t.align 8\n"
        f"\t.globl {size_symbol}\n"
        f"\t.type {size_symbol}, @object\n"
        f"{size_symbol}:\n"
        f"\t.quad .Lpurgatory_end - {array_symbol}\n"
        f"\t.size {size_symbol}, 8\n"
        "\n"
        "\t.section .note.GNU-stack, \"\", @progbits\n"
    ).encode()


def _stage_relocatable(scratch, incbin_path, relocatable):
    """Make ``incbin_path`` resolve to ``relocatable`` from ``scratch``.

    The check assembles in an empty directory, so that no other file of
    that name (a stale purgatory.ro in the working directory) can be found.
    """
    if os.path.isabs(incbin_path):
        return
    staged = os.path.normpath(os.path.join(scratch, incbin_path))
    if os.path.commonpath([scratch, staged]) != scratch or staged == scratch:
        raise UserError(f"incbin path: {incbin_path!r} must be a relative "
                        "path without '..' (or an absolute one)")
    os.makedirs(os.path.dirname(staged), exist_ok=True)
    os.symlink(os.path.abspath(relocatable), staged)


def _driver(cc):
    """The compiler driver's words, with a relative program path made absolute."""
    program = cc[0]
    if os.sep in program and not os.path.isabs(program):
        program = os.path.abspath(program)
    return [program, *cc[1:]]


def write_incbin(target, relocatable, cc, array_symbol, size_symbol,
                 incbin_path=None, env=None):
    """Write ``target`` (kexec-purgatory.S) for ``relocatable``, proven.

    ``cc`` is the compiler driver as a list of words. ``incbin_path`` is
    what the ``.incbin`` directive names (default: the relocatable's file
    name); the check assembles the exact text with that path pointing at
    ``relocatable``.
    """
    data = read_bytes(relocatable)
    name = os.path.basename(relocatable)
    incbin_path = name if incbin_path is None else incbin_path
    text = incbin_text(data, name, array_symbol, size_symbol, incbin_path)
    directory = os.path.dirname(os.path.abspath(target))
    require_output_directory(target)
    try:
        scratch_directory = tempfile.TemporaryDirectory(
            dir=directory, prefix=".incbin-check.")
    except OSError as e:
        raise UserError(f"{target}: cannot write: {e.strerror}") from None
    with scratch_directory as scratch:
        _stage_relocatable(scratch, incbin_path, relocatable)
        source = os.path.join(scratch, "check.S")
        with open(source, "wb") as f:
            f.write(text)
        command = [*_driver(cc), "-c", "-nostdinc", "-I", scratch,
                   "-o", "check.o", source]
        try:
            result = subprocess.run(command, cwd=scratch, env=env,
                                    capture_output=True, text=True,
                                    errors="replace")
        except OSError as e:
            raise UserError(f"{cc[0]}: cannot run the compiler (CC) to "
                            f"assemble {target}: {e.strerror}") from None
        if result.returncode != 0:
            lines = [line.replace(source, target).strip()
                     for line in result.stderr.splitlines()]
            first = next((line for line in lines if "rror" in line),
                         f"exit status {result.returncode}")
            raise UserError(f"{target}: does not assemble: {first}")
        obj = os.path.join(scratch, "check.o")
        if not os.path.isfile(obj):
            raise UserError(f"{cc[0]} (CC): exited 0 without writing the "
                            f"object of {target}: not a C compiler driver?")
        try:
            verify_object(obj, data, array_symbol, size_symbol)
        except UserError as e:
            # The scratch object is gone once this returns: name the
            # compiler and the file instead.
            raise UserError(str(e).replace(
                obj, f"{target} as {cc[0]} (CC) assembles it")) from None
    write_atomically(target, text)


# Reading

_INCBIN = re.compile(r'^\s*\.incbin\s+"((?:\\.|[^"\\])*)"\s*(?:,\s*(\w+))?'
                     r'\s*(?:,\s*(\w+))?\s*(?:[#;].*)?$', re.MULTILINE)


def detect(path, data):
    return path.endswith((".S", ".s")) or b".incbin" in data[:65536]


def read(path, data):
    """The file an assembler source includes with ``.incbin``, which the
    assembler looks up beside the source (then in the current directory)."""
    found = _INCBIN.findall(text_of(data, path))
    if len(found) != 1:
        raise UserError(f"{path}: expected exactly one .incbin, "
                        f"found {len(found)}")
    name, skip, count = found[0]
    candidates = [os.path.join(os.path.dirname(path), name), name]
    target = next((c for c in candidates if os.path.isfile(c)), None)
    if target is None:
        raise UserError(f"{path}: .incbin file {name!r} not found beside it")
    try:
        skip = int(skip, 0) if skip else 0
        count = int(count, 0) if count else None
    except ValueError:
        raise UserError(f"{path}: .incbin skip/count must be numbers") from None
    blob = read_bytes(target)[skip:None if count is None else skip + count]
    return Blob("elf", blob, f".incbin of {name}")


def includes(text, name):
    """Whether the .incbin file ``text`` includes a file called ``name``."""
    return f'.incbin "{name}"' in text
