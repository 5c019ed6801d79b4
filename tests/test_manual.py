# SPDX-License-Identifier: GPL-2.0-only
"""The man page and the shell completions: generated from the argparse
definitions, current in share/ (what the wheel installs), reproducible,
and installed by ``scons install``."""

import re

import pytest

from conftest import REPO, run_scons
from kexec_purgatory.cli import COMMANDS, build_parser, manual


def _options():
    """{command: [its long options]} of the parser as it is now."""
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.choices and "check" in a.choices]
    return {name: [o for a in command._actions for o in a.option_strings
                   if o.startswith("--") and o != "--help"]
            for name, command in sub.choices.items()}


def _roff_plain(text):
    return text.replace("\\-", "-")


@pytest.mark.parametrize("path", manual.paths())
def test_the_copies_the_wheel_installs_know_every_command_and_option(path):
    text = _roff_plain((REPO / "share" / path).read_text())
    for name, options in _options().items():
        assert name in text, f"{path}: no {name}: run python -m kexec_purgatory.cli.manual share"
        for option in options:
            assert option in text, f"{path}: no {name} {option}: regenerate it"


def test_the_man_page_is_the_same_whenever_it_is_generated():
    page = manual.man_page()
    assert page == manual.man_page()
    first = page.splitlines()[0]
    assert first.startswith(".TH KEXEC\\-PURGATORY 1 ")
    assert not re.search(r"20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]", first), first
    assert "Exit status" in page


def test_scons_install_installs_the_man_page_and_the_completions(tree, tmp_path):
    pkg = tmp_path / "pkg"
    run_scons(tree, "PREFIX=/usr", f"DESTDIR={pkg}", "install")
    share = pkg / "usr" / "share"
    page = _roff_plain((share / manual.MAN_PAGE).read_text())
    assert all(name in page for name in COMMANDS)
    for shell, path in manual.COMPLETIONS.items():
        text = (share / path).read_text()
        assert "--load-addr" in text and "verify-kernel" in text, shell
        assert oct((share / path).stat().st_mode & 0o777) == "0o644"
