# SPDX-License-Identifier: GPL-2.0-only
"""The one exception type that means "the user's input is wrong".

Anything raised as ``UserError`` is shown as a single line naming the culprit
and turned into a non-zero exit; anything else is a bug in this package.
"""


def reason(error):
    """What an exception says, never empty: its type, and its text if any
    (a bare ``KeyError()`` or ``MemoryError()`` has none)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def one_line(text):
    """``text`` as one printable line: a name read from a damaged object
    may hold line breaks or control characters (shown escaped)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class UserError(Exception):
    """Bad input: a file, symbol, section or variable the user can fix."""

    def __init__(self, message, exit_code=2):
        super().__init__(message)
        self.exit_code = exit_code
