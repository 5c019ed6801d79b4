# SPDX-License-Identifier: GPL-2.0-only
"""kexec-purgatory verify: is this file what the recorded build produced?

A packager or reviewer holding a ``kexec-purgatory.c`` (or ``purgatory.ro``,
or another generated output) and a ``purgatory.buildinfo`` learns whether
the file is, byte for byte, one of the files the record lists, and if not,
whether at least the purgatory it holds is the recorded one.
"""

import os

from ..build import record as buildinfo
from ..formats import read_blob
from ..errors import UserError
from ..digests import file_sha256_hex, sha256_hex
from .contract import print_json

HELP = "check a generated file against a build record (purgatory.buildinfo)"
EXIT_STATUS = ("OUTPUT is the recorded one", "it is not (the reason is "
               "printed)", "OUTPUT or the build record unreadable")


def add_arguments(parser):
    parser.add_argument("output", metavar="OUTPUT",
                        help="purgatory.ro, kexec-purgatory.c or another "
                             "generated output")
    parser.add_argument("--buildinfo", required=True, metavar="FILE",
                        help="the build record to check against")


def _held_purgatory(path):
    """SHA-256 of the purgatory the file holds, or None if it holds none."""
    try:
        blob = read_blob(path)
    except UserError:
        return None
    return sha256_hex(blob.data) if blob.kind == "elf" else None


def verdict(path, record):
    """(ok, reason) for ``path`` against the record."""
    files = buildinfo.recorded_outputs(record)
    digest = file_sha256_hex(path)
    name = os.path.basename(path)
    recorded_ro = files["purgatory.ro"]
    if files.get(name) == digest:
        return True, f"{path}: matches {name} of the build record (sha256 {digest})"
    same = sorted(n for n, d in files.items() if d == digest)
    if same:
        return True, (f"{path}: matches {same[0]} of the build record "
                      f"(sha256 {digest})")
    if name in files:
        why = f"{path}: sha256 {digest} is not the recorded {files[name]} of {name}"
    else:
        why = (f"{path}: sha256 {digest} matches no file of the build record "
               f"({', '.join(sorted(files))})")
    held = _held_purgatory(path)
    if held == recorded_ro:
        why += "; the purgatory it holds is the recorded purgatory.ro, the text around it differs"
    elif held is not None:
        why += (f"; it holds a different purgatory (sha256 {held}, recorded "
                f"purgatory.ro {recorded_ro}): 'kexec-purgatory diff' shows how")
    return False, why


def run(args):
    ok, reason = verdict(args.output, buildinfo.load(args.buildinfo))
    status = 0 if ok else 1
    if args.json:
        return print_json({"output": args.output, "buildinfo": args.buildinfo,
                           "matches": ok, "reason": reason}, status)
    print(reason)
    return status
