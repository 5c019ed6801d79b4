# SPDX-License-Identifier: GPL-2.0-only
"""What the checker reports: one Finding per problem, in text or JSON form.

The culprit fields (symbol, section, offset, relocation, instruction) are
also spelled out in the message, so the one-line text form is complete and
the JSON form lets tools act on the culprit without parsing prose.
"""

from __future__ import annotations

import dataclasses
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
    message: str
    symbol: Optional[str] = None
    section: Optional[str] = None
    offset: Optional[int] = None
    relocation: Optional[str] = None
    instruction: Optional[str] = None

    @classmethod
    def from_problem(cls, file, severity, rule, problem):
        return cls(file, severity, rule, **dataclasses.asdict(problem))

    def text(self):
        return f"{self.file}: {self.severity}: {self.rule}: {self.message}"

    def as_dict(self):
        return dataclasses.asdict(self)
