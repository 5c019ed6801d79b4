# SPDX-License-Identifier: GPL-2.0-only
"""SHA-256 as this package prints it: lowercase hex, of bytes or a file."""

import hashlib

from .files import read_bytes


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def file_sha256_hex(path):
    """The digest of a file's bytes, or UserError naming the file."""
    return sha256_hex(read_bytes(path))
