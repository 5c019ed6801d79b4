# SPDX-License-Identifier: GPL-2.0-only
"""Numbers as people type them on a command line: 0x1000, 4096, 64K, 4G."""

import re

from .errors import UserError

_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_NUMBER = re.compile(r"(0[xX][0-9a-fA-F]+|[0-9]+)([KMGTkmgt]?)")


def parse_size(text, what):
    """An address or size: decimal or 0x hex, optional binary suffix K, M,
    G or T (KiB...), summed over ``+``: ``4G+0x1000``. ``what`` names the
    value in the error."""
    total = 0
    for term in text.strip().split("+"):
        match = _NUMBER.fullmatch(term.strip())
        if not match:
            raise UserError(f"{what}: {text!r} is not a number "
                            "(decimal, 0x hex, K/M/G/T suffix)")
        total += int(match.group(1), 0) * _SUFFIXES[match.group(2).upper()]
    return total
