# SPDX-License-Identifier: GPL-2.0-only
"""What a reader gives back: a purgatory's bytes and what kind they are."""

import dataclasses
from typing import Optional

from ..errors import UserError


@dataclasses.dataclass(frozen=True)
class Blob:
    """``kind`` is "elf" (the object's bytes) or "image" (a relocated
    image loaded at ``base``); ``form`` names the reader, for messages.
    A reader that finds the purgatory inside a larger file (a kernel
    image) gives the ``name`` messages call it by (``IMAGE[purgatory]``)
    and ``origin``, where in the file it was found."""
    kind: str
    data: bytes
    form: str
    base: int = 0
    name: Optional[str] = None
    origin: Optional[str] = None


def text_of(data, path):
    """A text form's bytes as str, or UserError naming the file."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None
