# SPDX-License-Identifier: GPL-2.0-only
"""Read a kernel ``.config`` into a dictionary.

Kbuild treats ``# CONFIG_FOO is not set`` and an absent line alike, so only
assigned options are kept.  String values lose their quotes and escapes, as
Kbuild's ``include/config/auto.conf`` make-variables do.
"""

import re

from ..errors import UserError

_ASSIGNMENT = re.compile(r"CONFIG_([A-Za-z0-9_]+)=(.*)")


def _unquote(value, path, lineno):
    if not value.startswith('"'):
        return value
    if len(value) < 2 or not value.endswith('"'):
        raise UserError(f"{path}:{lineno}: unterminated string value")
    return re.sub(r'\\(.)', r'\1', value[1:-1])


class KernelConfig:
    """The options of one ``.config``: ``config["FOO"]`` is ``"y"``, ``"m"``,
    a number or a string; unset options are absent."""

    def __init__(self, values, path):
        self.values = values
        self.path = path

    def __getitem__(self, name):
        return self.values.get(name, "")

    def __contains__(self, name):
        return name in self.values

    def enabled(self, name):
        """True for ``CONFIG_NAME=y`` (built in), as Kbuild's ``ifdef``."""
        return self.values.get(name, "") not in ("", "n")


def parse_config(text, path):
    """Parse ``.config`` text; ``path`` names it in messages."""
    values = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        match = _ASSIGNMENT.fullmatch(line.strip())
        if match:
            values[match[1]] = _unquote(match[2], path, lineno)
    return KernelConfig(values, str(path))


def read_config(path):
    """Parse the ``.config`` at ``path``; a missing file is a UserError."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as e:
        raise UserError(f"{path}: cannot read kernel configuration: "
                        f"{e.strerror}") from None
    return parse_config(text, path)
