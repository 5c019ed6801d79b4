# SPDX-License-Identifier: GPL-2.0-only
"""The ``kexec-purgatory`` command: a thin dispatcher over ``commands/``."""

import argparse
import importlib
import sys

from . import __version__
from .errors import UserError

# Subcommand name -> module in kexec_purgatory.commands.
COMMANDS = {
    "embed": "embed",
    "load": "load",
    "run": "run",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kexec-purgatory",
        description="Build-time tools for a kexec purgatory (purgatory.ro).")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f".commands.{module_name}", __package__)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as e:
        print(f"kexec-purgatory: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
