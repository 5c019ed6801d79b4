# SPDX-License-Identifier: GPL-2.0-only
"""What every ``kexec-purgatory`` command shares, so that they keep one
contract: the exit status and its paragraph in the help, the ``--json``
object (errors included), and progress lines on stderr.

Exit status: 0 ok, 1 a finding or failure, 2 input that cannot be used
(one line naming the culprit on stderr; with ``--json`` also an object
with ``"error"`` on stdout).
"""

import argparse
import json
import sys
import textwrap

from ..errors import one_line

OK, FAILED, UNUSABLE = 0, 1, 2


def exit_status_help(ok, failed, unusable="unusable input (one line names "
                     "the file, option or step)"):
    """The exit-status paragraph of a command's help (``failed`` None: the
    command has no failure short of unusable input)."""
    failed = f" 1 {failed};" if failed else ""
    return f"Exit status: 0 {ok};{failed} 2 {unusable}."


JSON_HELP = ("print the result as one JSON object on stdout, with "
             "\"exit_status\", and \"error\" when the input cannot be used")


class UsageError(Exception):
    """A command line argparse refuses; main() reports it (exit 2)."""


class Parser(argparse.ArgumentParser):
    """argparse with the help's paragraphs kept apart, and usage errors
    handed to main() so that ``--json`` gets them as JSON too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", ParagraphFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage().strip()}")


class ParagraphFormatter(argparse.HelpFormatter):
    """Wraps each blank-line separated paragraph of a description or
    epilog on its own (argparse's default joins them into one)."""

    def _fill_text(self, text, width, indent):
        return "\n\n".join(
            textwrap.fill(" ".join(p.split()), width, initial_indent=indent,
                          subsequent_indent=indent)
            for p in text.split("\n\n") if p.strip())


def print_json(data, status, sort_keys=True):
    """A command's JSON result: ``data`` with its exit status (keys sorted,
    unless their order is documented, as that of check's findings)."""
    json.dump({**data, "exit_status": status}, sys.stdout, indent=2,
              sort_keys=sort_keys)
    print()
    return status


def print_error(error):
    """A refusal's one line on stderr, whatever the message holds (a name
    read from a damaged object may hold line breaks)."""
    print(f"kexec-purgatory: error: {one_line(str(error))}", file=sys.stderr)


def print_error_json(command, message, status):
    return print_json({"command": command, "error": message}, status)


def progress(command, text):
    """A progress line on stderr (stdout stays the result)."""
    print(f"kexec-purgatory {command}: {text}", file=sys.stderr, flush=True)
