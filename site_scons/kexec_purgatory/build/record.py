# SPDX-License-Identifier: GPL-2.0-only
"""The build record, ``purgatory.buildinfo``: what a purgatory was made from.

A distro or a reviewer rebuilding the purgatory needs to know which
sources, flags and toolchain gave which bytes. The record is JSON with
sorted keys and holds no times and no absolute paths, so two builds of the
same inputs anywhere write the same record, byte for byte.
"""

import json
import os
import re
import subprocess

from .. import __version__
from ..errors import UserError
from ..digests import file_sha256_hex as sha256_of
from ..files import read_bytes

FORMAT = "kexec-purgatory-buildinfo/1"

# How the path-mapping flags are recorded: their real values are the
# build's absolute paths, which are not inputs of the blob.
TREE_PLACEHOLDER = "<tree>"
OUTPUT_PLACEHOLDER = "<O>"


def first_version_line(command, env=None):
    """The first line of ``COMMAND --version`` (the toolchain is an input)."""
    try:
        result = subprocess.run([*command, "--version"], env=env,
                                capture_output=True, text=True,
                                errors="replace")
    except OSError as e:
        raise UserError(f"{command[0]}: cannot run: {e.strerror}") from None
    lines = result.stdout.splitlines()
    if result.returncode != 0 or not lines:
        raise UserError(f"{command[0]}: '--version' failed "
                        f"(exit status {result.returncode})")
    return lines[0].strip()


def path_free(words, tree, output_dir, others=None, relative_output=None):
    """Flags with the build's own directories made relative or replaced by
    placeholders (the output directory first: it may be inside the tree;
    ``others`` maps more directories, e.g. a kernel's output directory, to
    placeholders of their own). A directory is only replaced as a whole
    path component; ``relative_output``, the output directory as the
    commands spell it, only at the start of a word (``-o build/x.o``)."""
    if relative_output not in (None, "", "."):
        words = [OUTPUT_PLACEHOLDER + w[len(relative_output):]
                 if w == relative_output or w.startswith(relative_output + "/")
                 else w for w in words]
    rules = [(output_dir, OUTPUT_PLACEHOLDER + "/", OUTPUT_PLACEHOLDER)]
    rules += [(directory, name + "/", name)
              for directory, name in sorted((others or {}).items(), reverse=True)
              if directory != tree]
    rules.append((tree, "", "."))
    # A map whose whole left side is the tree (-fmacro-prefix-map=TREE/=)
    # stays a path: "./", not nothing.
    tree_map = re.compile(r"=" + re.escape(tree) + r"/=")
    result = []
    for word in words:
        word = tree_map.sub("=./=", word)
        for directory, inside, itself in rules:
            word = re.sub(re.escape(directory) + r"(/|(?=[=:,]|$))",
                          lambda m: inside if m.group(1) else itself, word)
        result.append(word)
    return result


def build_record(*, relocatable, outputs, sources, cc_version,
                 ld_version, code_model, cflags, asflags, ldflags, commands):
    """The record as a dict.

    ``relocatable``/``outputs`` map names (relative to the output
    directory) to paths; ``sources`` maps names relative to the tree to
    paths; the flag lists and ``commands`` (object name: its compile
    command) are already path-free. ``code_model``, ``cflags`` and
    ``asflags`` are None when objects were compiled with flags of their
    own (a kernel tree's): then the commands alone say how.
    """
    return {
        "format": FORMAT,
        "purgatory.ro": {"sha256": sha256_of(relocatable),
                         "size": os.path.getsize(relocatable)},
        "outputs": {name: sha256_of(path) for name, path in outputs.items()},
        "sources": {name: sha256_of(path) for name, path in sources.items()},
        "toolchain": {"cc": cc_version, "ld": ld_version},
        "code_model": code_model,
        "flags": {"c": None if cflags is None else list(cflags),
                  "asm": None if asflags is None else list(asflags),
                  "ld": list(ldflags)},
        "commands": {name: list(words) for name, words in commands.items()},
        # The generator writes the outputs' text: its version is an input.
        "generator": f"kexec-purgatory {__version__}",
    }


def dumps(record):
    """The record's bytes: sorted keys, two-space indent, final newline."""
    return (json.dumps(record, sort_keys=True, indent=2,
                       ensure_ascii=False) + "\n").encode()


def load(path):
    """Read a build record, or raise UserError saying what is wrong."""
    return parse(read_bytes(path), path)


def parse(data, path):
    """A build record from its bytes (``path`` names it in errors)."""
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not a build record (bad JSON: {e})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise UserError(f"{path}: not a build record (no \"format\": "
                        f"\"{FORMAT}\")")
    for key in ("purgatory.ro", "outputs", "sources"):
        if not isinstance(record.get(key), dict):
            raise UserError(f"{path}: build record without \"{key}\"")
    return record


def recorded_outputs(record):
    """Every generated file of a record: {name: sha256}, purgatory.ro included."""
    files = dict(record["outputs"])
    files["purgatory.ro"] = record["purgatory.ro"].get("sha256")
    return files
