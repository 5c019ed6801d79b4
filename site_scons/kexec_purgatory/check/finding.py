# SPDX-License-Identifier: GPL-2.0-only
"""What the checker reports: one Finding per problem, in text or JSON form.

The culprit fields (symbol, section, offset, relocation, instruction) are
also spelled out in the message, so the one-line text form is complete and
the JSON form lets tools act on the culprit without parsing prose.
"""

from __future__ import annotations

import dataclasses

from ..errors import one_line
from typing import Optional

ERROR = "error"
WARNING = "warning"


@dataclasses.dataclass(frozen=True)
class Problem:
    """What a rule yields: the message and its culprit, without file or rule."""

    message: str
    symbol: Optional[str] = None
    section: Optional[str] = None
    offset: Optional[int] = None
    relocation: Optional[str] = None
    instruction: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Finding:
    """A Problem found by one rule in one file, with the rule's severity."""

    file: str
    severity: str
    rule: str
    problem: Problem
    # The file is damaged (cut short, tables pointing past its end): the
    # command's exit status is 2, unusable input, not 1.
    damaged: bool = False

    def __getattr__(self, name):
        """message, symbol, section, offset, relocation, instruction."""
        if name.startswith("__") or name == "problem":
            raise AttributeError(name)
        return getattr(self.problem, name)

    def text(self):
        return one_line(f"{self.file}: {self.severity}: {self.rule}: {self.message}")

    def as_dict(self):
        """The JSON form: file, severity, rule, then the Problem's fields."""
        return {"file": self.file, "severity": self.severity, "rule": self.rule,
                **dataclasses.asdict(self.problem)}
