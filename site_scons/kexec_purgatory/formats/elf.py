# SPDX-License-Identifier: GPL-2.0-only
"""purgatory.ro itself, as a form: the object's bytes, read as they are."""

from ..elf import ELF_MAGIC
from .blob import Blob

NAME = "elf"
DESCRIPTION = "ELF object"


def detect(path, data):
    return data.startswith(ELF_MAGIC)


def read(path, data):
    return Blob("elf", data, DESCRIPTION)
