# SPDX-License-Identifier: GPL-2.0-only
"""Kbuild's own commands for a tree's purgatory, asked of Kbuild and cached.

A normal ``make O=OBJ arch/ARCH/purgatory/`` with Kbuild's ``if_changed``,
``if_changed_dep``, ``if_changed_rule`` and ``cmd`` overridden on the
command line (and ``filechk`` and the probes' ``TMPOUT``, which would
write too) (a command-line variable wins in every sub-make) prints each
target's command instead of running it: word for word what Kbuild's
``.cmd`` files record, whatever the version and architecture, and nothing
is compiled. Given the variables the tree was configured with, nothing is
configured again either; but an out-of-tree O= still gets its Makefile,
``source`` link and ``.gitignore`` rewritten, so the query runs on a copy
of OBJ under OUT. A tree built in place (OBJ = SRC) is asked in place:
there make writes nothing.

The answer takes seconds; it is kept in OUT with what it depends on (the
make variables, the compiler and linker binaries, ``.config`` and the
Makefiles Kbuild read, by size and modification time), so a null build
runs no make at all.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..files import write_atomically

CACHE_NAME = ".kbuild-commands.json"
CACHE_FORMAT = "kexec-purgatory-kbuild/2"

# The recipe each if_changed* prints instead of running: the target, its
# command (make-escaped, as in a .cmd file) and the makefiles read.
_PRINT = ("@printf '%s := %s\\n' '$@' '$(make-cmd)' >> {out}; "
          "printf 'MAKEFILE_LIST %s\\n' '$(MAKEFILE_LIST)' >> {out}")
_LINE = re.compile(r"^(\S+) := ?(.*)$")
# Targets that embed the purgatory into the kernel: not the purgatory's.
_EMBEDDING = ("kexec-purgatory.o", "kexec-purgatory.c", "built-in.a",
              "modules.order")


@dataclass(frozen=True)
class Command:
    """One Kbuild step: its target (relative to O) and its shell command."""
    target: str
    command: str


def unescape(text):
    """A make-escaped command (``$$``, ``$(pound)``) as the shell runs it."""
    return text.replace("$(pound)", "#").replace("$$", "$")


def _signature(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _binary(program, env):
    found = shutil.which(program, path=env.get("PATH")) if program else None
    return os.path.realpath(found) if found else None


def cache_key(tree, variables, makefiles, env):
    """What the answer depends on, cheap to compute again: the make
    variables, the toolchain binaries and every makefile Kbuild read."""
    files = [tree.src / "Makefile", tree.obj / ".config",
             tree.obj / "include/config/auto.conf",
             tree.obj / "include/config/auto.conf.cmd",
             *sorted((tree.src / "scripts").glob("Makefile*")),
             *sorted((tree.src / "scripts").glob("*.include")),
             *sorted((tree.src / "arch" / tree.srcarch).glob("Makefile*")),
             *map(Path, makefiles)]
    tools = {}
    for name in ("CC", "LD", "OBJCOPY"):
        words = variables.get(name, "").split()
        binary = _binary(words[0], env) if words else None
        tools[name] = [binary, _signature(binary) if binary else None]
    return {
        "variables": dict(sorted(variables.items())),
        "tools": tools,
        "files": {str(p): _signature(p) for p in dict.fromkeys(files)},
    }


def _make_command(tree, obj, variables, out):
    """The make command line of the query, as argv words (``obj`` None:
    the tree is its own output directory)."""
    recipe = _PRINT.format(out=out)
    output = [f"O={obj}"] if obj is not None else []
    return ["make", "-s", "-C", str(tree.src), *output,
            *(f"{k}={v}" for k, v in variables.items()),
            f"if_changed={recipe}", "if_changed_dep=$(if_changed)",
            "if_changed_rule=$(if_changed)", f"cmd={recipe}",
            # filechk regenerates prepared headers through a temporary
            # file; compiler probes write theirs in the top directory.
            "filechk=@:", f"TMPOUT={Path(out).parent}/probe.$$$$",
            f"arch/{tree.srcarch}/purgatory/"]


def _copy_output_directory(obj, dest):
    """A copy of OBJ with its times (make compares them) and symlinks."""
    try:
        shutil.copytree(obj, dest, symlinks=True, copy_function=shutil.copy2)
    except (OSError, shutil.Error) as e:
        raise UserError(f"KERNEL_O={obj}: cannot copy it to ask Kbuild: {e}") from None


# make's own lines about a failed recipe or sub-make, not the cause.
_MAKE_ECHO = re.compile(r"^make(\[\d+\])?: \*\*\* \[.*\] (Error \d+|Deleting file)")


def _last_error(output):
    """The line that says what went wrong: the last error line that is not
    make's echo of a failed recipe."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    causes = [line for line in lines if not _MAKE_ECHO.match(line)]
    errors = [line for line in causes if "rror" in line or "***" in line]
    return (errors or causes or lines or ["(no output)"])[-1]


def ask(tree, variables, scratch, env):
    """Run the query in a copy of OBJ under ``scratch``: the purgatory's
    commands in Kbuild's order and the makefiles its sub-make read."""
    if not shutil.which("make", path=env.get("PATH")):
        raise UserError("kernel mode needs make (Debian package make)")
    prefix = f"arch/{tree.srcarch}/purgatory/"
    os.makedirs(scratch, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="query-") as work:
        obj = None
        if tree.obj != tree.src:
            obj = Path(work) / "obj"
            _copy_output_directory(tree.obj, obj)
        out = Path(work) / "commands"
        argv = _make_command(tree, obj, variables, out)
        try:
            result = subprocess.run(argv, capture_output=True, text=True,
                                    errors="replace", env=env)
        except OSError as e:
            raise UserError(f"make: cannot run: {e.strerror}") from None
        if result.returncode != 0:
            raise UserError(f"Kbuild failed for arch/{tree.srcarch}/purgatory/: "
                            f"{_last_error(result.stdout + result.stderr)}")
        text = out.read_text(errors="replace") if out.exists() else ""
    commands, makefiles = {}, []
    for line in text.splitlines():
        if line.startswith("MAKEFILE_LIST "):
            makefiles += line.split()[1:]
            continue
        match = _LINE.match(line)
        # A target's if_changed* command comes first; `$(call cmd,...)`
        # steps after it (checksrc and the like) are empty for a purgatory.
        if match and match[1].startswith(prefix) and match[2].strip() and \
                os.path.basename(match[1]) not in _EMBEDDING:
            commands.setdefault(match[1], unescape(match[2]))
    if not commands:
        raise UserError(f"Kbuild gave no command for arch/{tree.srcarch}/"
                        "purgatory/ (is the purgatory configured in?)")
    makefiles = [m for m in dict.fromkeys(makefiles)
                 if os.path.isabs(m) or not m.startswith("include/config")]
    makefiles = [m if os.path.isabs(m) else str(tree.src / m) for m in makefiles]
    return [Command(t, c) for t, c in commands.items()], makefiles


def _load(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == CACHE_FORMAT else None


def commands(tree, variables, out_dir, env, check_compiler, progress=print):
    """(Kbuild's commands for the tree's purgatory, the compiler's version
    line): from the cache in ``out_dir`` when nothing they depend on
    changed, else ``check_compiler()`` (which runs the compiler) and Kbuild
    are asked (``progress`` is told first: it takes seconds)."""
    path = Path(out_dir) / CACHE_NAME
    cached = _load(path)
    if cached is not None:
        key = cache_key(tree, variables, cached.get("makefiles", []), env)
        if key == cached.get("key"):
            return [Command(*c) for c in cached["commands"]], cached["compiler"]
    compiler = check_compiler()
    progress(f"  KBUILD  asking make for arch/{tree.srcarch}/purgatory/'s "
             "commands (a few seconds)")
    found, makefiles = ask(tree, variables, Path(out_dir) / ".kbuild-query", env)
    record = {"format": CACHE_FORMAT, "makefiles": makefiles,
              "key": cache_key(tree, variables, makefiles, env),
              "compiler": compiler,
              "commands": [[c.target, c.command] for c in found]}
    write_atomically(str(path), (json.dumps(record, indent=1) + "\n").encode())
    return found, compiler

