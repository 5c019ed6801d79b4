# SPDX-License-Identifier: GPL-2.0-only
"""What a reader gives back: a purgatory's bytes and what kind they are."""

from collections import namedtuple

from ..errors import UserError

# ``kind`` is "elf" (the object's bytes) or "image" (a relocated image
# loaded at ``base``); ``form`` names the reader, for messages. A reader
# that finds the purgatory inside a larger file (a kernel image) gives the
# ``name`` messages call it by (``IMAGE[purgatory]``) and ``origin``, where
# in the file it was found. A named tuple, not a dataclass: the writers
# import this module in every build and every `embed`, and the dataclass
# machinery costs them 6 ms.
Blob = namedtuple("Blob", "kind data form base name origin",
                  defaults=(0, None, None))


def text_of(data, path):
    """A text form's bytes as str, or UserError naming the file."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None
