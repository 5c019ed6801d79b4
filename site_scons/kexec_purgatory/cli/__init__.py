# SPDX-License-Identifier: GPL-2.0-only
"""The ``kexec-purgatory`` command: a thin dispatcher, one module per
subcommand in this package (each has ``HELP``, ``add_arguments(parser)``
and ``run(args) -> int``)."""

import argparse
import importlib
import sys

from .. import __version__
from ..errors import UserError
from . import contract

# Subcommand name -> module in kexec_purgatory.cli.
COMMANDS = {
    "check": "check",
    "embed": "embed",
    "diff": "diff",
    "verify": "verify",
    "repro": "repro",
    "load": "load",
    "run": "run",
    "extract": "extract",
    "verify-kernel": "verify_kernel",
    "boot-test": "boot_test",
    "test-run": "test_run",
}


def build_parser(only=None):
    """The parser; with ``only`` (a command name), that command alone.

    Each command module is imported to build its subparser, and some import
    the emulator (unicorn, capstone: ~0.1 s); ``kexec-purgatory embed``, run
    once a build, should not pay for them. Every command gets ``--json``
    and its exit-status paragraph here, so that none lacks them.
    """
    parser = contract.Parser(
        prog="kexec-purgatory",
        description="Build-time tools for a kexec purgatory (purgatory.ro).",
        epilog=contract.exit_status_help(
            "ok", "a finding or a failure", "unusable input") +
        " Each command's -h says what they mean for it; docs/cli.md has "
        "the whole contract.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(f".{module_name}", __package__)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.add_argument("--json", action="store_true", help=contract.JSON_HELP)
        p.epilog = "\n\n".join(filter(None, (
            getattr(module, "EPILOG", None),
            contract.exit_status_help(*module.EXIT_STATUS))))
        p.set_defaults(run=module.run)
    return parser


def command_words(name, *positionals, **options):
    """The command line that runs subcommand ``name``: each option spelled
    as the subcommand's own parser defines it (keyword: the option's
    ``dest``; True for a flag), the positional arguments last. The SCons
    tool prints these for its steps with ``V=1``."""
    module = importlib.import_module(f".{COMMANDS[name]}", __package__)
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    by_dest = {action.dest: action for action in parser._actions
               if action.option_strings}
    words = ["kexec-purgatory", name]
    for dest, value in options.items():
        action = by_dest[dest]
        flag = max(action.option_strings, key=len)
        if action.nargs == 0:
            words += [flag] if value else []
        else:
            words += [flag, str(value)]
    return [*words, *map(str, positionals)]


def invoked_command(argv):
    """The command named on the command line, or None (help, typo...)."""
    words = [w for w in argv if not w.startswith("-")]
    return words[0] if words and words[0] in COMMANDS else None


def _wants_json(argv):
    return "--json" in argv


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    command = invoked_command(argv)
    try:
        args = build_parser(command).parse_args(argv)
    except contract.UsageError as e:
        print(e, file=sys.stderr)
        if _wants_json(argv):
            contract.print_error_json(command, str(e).splitlines()[0],
                                      contract.UNUSABLE)
        return contract.UNUSABLE
    try:
        return args.run(args)
    except UserError as e:
        contract.print_error(e)
        if args.json:
            contract.print_error_json(args.command, str(e), e.exit_code)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
