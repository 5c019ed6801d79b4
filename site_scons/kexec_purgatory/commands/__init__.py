# SPDX-License-Identifier: GPL-2.0-only
"""One module per ``kexec-purgatory`` subcommand.

Each module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status). ``cli.COMMANDS`` lists them.
"""
