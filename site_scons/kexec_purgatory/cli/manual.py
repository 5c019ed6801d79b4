# SPDX-License-Identifier: GPL-2.0-only
"""The ``kexec-purgatory`` man page and shell completion, generated from
the argparse definitions (argparse-manpage, shtab: both in Debian 12 as
python3-argparse-manpage and python3-shtab), so that neither can drift
from the commands.

``scons install`` writes them fresh; the wheel carries the copies under
``share/`` in the source tree, which ``python -m kexec_purgatory.cli.manual
share`` rewrites (tests/test_manual.py fails when they are stale).
"""

import os
import re
import sys

from .. import __version__
from ..build.install import MANUAL_FILES

MAN_PAGE, _BASH, _ZSH = MANUAL_FILES
COMPLETIONS = {"bash": _BASH, "zsh": _ZSH}


def _parser():
    from . import build_parser
    return build_parser()


def man_page():
    """The man page (roff text). Its header names the version, not the
    day it was generated, so that the page is the same in every build."""
    from build_manpages.manpage import Manpage      # argparse-manpage
    parser = _parser()
    parser.man_short_description = ("build, check, run in emulation and "
                                     "embed a kexec purgatory")
    text = str(Manpage(parser))
    if "Exit status" not in text:
        # argparse-manpage before 2 (Debian 12's 1.2.2) leaves out epilogs:
        # the exit statuses get a section of their own there.
        epilog = " ".join(parser.epilog.split()).replace("\\", "\\e")
        text = (text.rstrip("\n") + '\n.SH "EXIT STATUS"\n'
                + epilog.replace("-", "\\-") + "\n")
    header = (f'.TH KEXEC\\-PURGATORY 1 "" "kexec\\-purgatory {__version__}" '
              '"User Commands"')
    return re.sub(r"\A\.TH [^\n]*", lambda _: header, text).rstrip("\n") + "\n"


def completion(shell):
    """The completion script for ``shell`` (bash, zsh)."""
    import shtab
    return shtab.complete(_parser(), shell=shell)


def paths():
    """Every generated file's path under share/."""
    return list(MANUAL_FILES)


def generated():
    """{path under share/: text} of every generated file."""
    files = {MAN_PAGE: man_page()}
    files.update({path: completion(shell) for shell, path in COMPLETIONS.items()})
    return files


def write_all(share):
    """Write every generated file under the directory ``share``."""
    from ..files import write_atomically
    for path, text in generated().items():
        target = os.path.join(share, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        write_atomically(target, text.encode())


if __name__ == "__main__":
    write_all(sys.argv[1] if len(sys.argv) > 1 else "share")
