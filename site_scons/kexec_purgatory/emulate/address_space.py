# SPDX-License-Identifier: GPL-2.0-only
"""Non-overlapping placement of things in the emulated physical memory.

The purgatory, the segments standing for a kernel and the emulated machine's
own page tables must never share bytes; this keeps the list of what is where
and finds free, page-aligned room for what has no fixed address.
"""

from ..errors import UserError

def page_align(value, page_size):
    return (value + page_size - 1) & ~(page_size - 1)


def page_runs(ranges, page_size):
    """The pages of every (start, size), merged into (start, size) runs:
    one mapping each, however large the segments."""
    spans = sorted((start & ~(page_size - 1), page_align(start + size, page_size))
                   for start, size in ranges if size)
    merged = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end - start) for start, end in merged]


class AddressSpace:
    """Byte ranges taken so far, each with a name for error messages."""

    def __init__(self, limit, page_size, limit_what="the end of the identity map"):
        self.limit = limit          # first address that cannot be used
        self.limit_what = limit_what
        self.page_size = page_size
        self.taken = []             # (start, end, what)

    def _overlap(self, start, end):
        for other in self.taken:
            if start < other[1] and other[0] < end:
                return other
        return None

    def reserve(self, start, size, what):
        """Take [start, start + size) or fail naming what is in the way."""
        end = start + size
        if end > self.limit:
            raise UserError(f"{what} at {start:#x}..{end:#x} ends above "
                            f"{self.limit:#x}, {self.limit_what}")
        other = self._overlap(start, end) if size else None
        if other:
            raise UserError(f"{what} at {start:#x}..{end:#x} overlaps "
                            f"{other[2]} at {other[0]:#x}..{other[1]:#x}")
        self.taken.append((start, end, what))
        return start

    def allocate(self, size, what, lowest):
        """Take the lowest free page-aligned range of ``size`` bytes at or
        above ``lowest``."""
        start = page_align(lowest, self.page_size)
        while True:
            other = self._overlap(start, start + size) if size else None
            if other is None:
                return self.reserve(start, size, what)
            start = page_align(other[1], self.page_size)
