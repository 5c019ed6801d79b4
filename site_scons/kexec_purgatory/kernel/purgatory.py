# SPDX-License-Identifier: GPL-2.0-only
"""A kernel tree's purgatory as steps to run: Kbuild's own commands, each
run where Kbuild runs it (in OBJ) with its outputs moved under OUT.

Running a command in OBJ, as Kbuild does, keeps everything it records the
same (the compilation directory in debug info, relative include paths);
only the words that name the purgatory's own targets, and the dependency
files beside them, are rewritten to OUT, so SRC and OBJ are only read.
Whatever the architecture's pipeline (x86 and riscv: objects, ``ld -r``
and a ``.chk`` link; s390 adds a preprocessed linker script and an
``objcopy``; powerpc one ``ld -r --no-undefined``), it is the commands
Kbuild gave, in Kbuild's order.
"""

import os
import re
import shlex
from dataclasses import dataclass

RELOCATABLE = "purgatory.ro"
UNDEFINED_CHECK = "purgatory.chk"


@dataclass(frozen=True)
class Step:
    target: str          # relative to OUT, as Kbuild names it in O
    command: str         # the shell command, outputs moved to OUT
    tag: str             # Kbuild's quiet tag: CC, AS, LD, LDS, OBJCOPY
    source: str          # the compiled or preprocessed file, else None
    inputs: tuple        # other steps' targets the command reads
    include_dirs: tuple  # -I directories, absolute (for the header scanner)
    forced: tuple        # -include files, absolute
    kbuild_command: str  # the command exactly as Kbuild runs it in O


def _word(path):
    """A pattern matching ``path`` as a shell word or the value of an option
    (``-Wp,-MMD,path``, ``-T path``, ``--defsym=x=path``), never inside a
    quoted string (``-DKBUILD_MODFILE='"arch/s390/purgatory/purgatory"'``
    names the module, not a file)."""
    return re.compile(r"(?<![^\s,=])" + re.escape(path) + r"(?=[\s;)]|$)")


def _rewritten(command, moved):
    for pattern, replacement in moved:
        command = pattern.sub(lambda _: replacement, command)
    return command


def _tag(words, target):
    program = os.path.basename(words[0]) if words else ""
    if "objcopy" in program:
        return "OBJCOPY"
    if re.search(r"(^|-)ld(\.bfd)?$", program):
        return "LD"
    if target.endswith(".lds"):
        return "LDS"
    source = words[-1] if words else ""
    return "AS" if source.endswith((".S", ".s")) else "CC"


def _absolute(path, obj):
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(obj, path))


def _includes(words, obj):
    """The -I directories and -include files of a compile, absolute."""
    dirs, forced = [], []
    it = iter(words)
    for word in it:
        if word == "-I":
            dirs.append(next(it, ""))
        elif word.startswith("-I"):
            dirs.append(word[2:])
        elif word == "-include":
            forced.append(next(it, ""))
    return (tuple(_absolute(d, obj) for d in dirs if d),
            tuple(_absolute(f, obj) for f in forced if f))


def steps(commands, obj, out):
    """Kbuild's commands (``kbuild.Command``) for the tree whose output
    directory is ``obj``, as steps writing under ``out`` (absolute)."""
    targets = [c.target for c in commands]
    moved = []
    for target in sorted(targets, key=len, reverse=True):
        directory, name = os.path.split(target)
        for path in (target, f"{directory}/.{name}.d"):
            moved.append((_word(path), os.path.join(out, path)))
    result = []
    for c in commands:
        try:
            words = shlex.split(c.command)
        except ValueError:
            words = c.command.split()
        tag = _tag(words, c.target)
        inputs = tuple(t for t in targets if t != c.target and
                       _word(t).search(c.command))
        source = None
        if tag in ("CC", "AS", "LDS") and words:
            last = words[-1]
            if last not in targets:
                source = _absolute(last, obj)
        dirs, forced = _includes(words, obj) if source else ((), ())
        result.append(Step(c.target, _rewritten(c.command, moved), tag,
                           source, inputs, dirs, forced, c.command))
    return result


def find(found, name):
    """The step whose target is ``name`` in the purgatory directory."""
    return next((s for s in found if os.path.basename(s.target) == name), None)
