# SPDX-License-Identifier: GPL-2.0-only
"""``kexec-purgatory test-run``: the emulated runs of ``scons test-run``
and of the default build's RUN gate (``--gate``), in one command: what
``scons V=1`` prints for the RUN step."""

import sys

from ..files import read_bytes, refuse_overwriting_input, write_atomically
from .contract import print_json

HELP = ("run purgatory.ro in emulation at its architecture's test "
        "addresses: each run must enter the kernel, and refuse when a "
        "segment is corrupted")
EXIT_STATUS = ("every run passed (or the machine cannot be emulated here, "
               "which is said)", "a run failed (the line names it and its "
               "'kexec-purgatory run' command)",
               "FILE unreadable, damaged or refused by the kernel's loader, "
               "or OUT not writable")


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="the purgatory (purgatory.ro)")
    parser.add_argument("--gate", action="store_true",
                        help="the default build's RUN gate: the lowest and "
                        "the highest test address only, with small segments "
                        "(about 0.4 s); default: the three addresses of "
                        "'scons test-run' and the default segments")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="write the JSON report of the runs here "
                        "(replaced atomically)")


def command(source, output, gate=False):
    """The command line of the build's RUN step."""
    from . import command_words
    return command_words("test-run", source, gate=gate, output=output)


def run(args):
    if args.output:
        refuse_overwriting_input(args.output, args.file)
    from ..emulate import testrun       # unicorn: only when running
    lines = []
    out = print if not args.json else lines.append
    data = read_bytes(args.file)
    report = (testrun.gate if args.gate else testrun.run_all)(
        data, args.file, out=out)
    if args.output:
        write_atomically(args.output, report.encode())
    if args.json:
        import json
        return print_json({"file": args.file, "runs": json.loads(report),
                           "lines": lines}, 0)
    sys.stdout.flush()
    return 0
