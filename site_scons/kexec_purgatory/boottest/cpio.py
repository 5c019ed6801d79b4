# SPDX-License-Identifier: GPL-2.0-only
"""The cpio "newc" archive the kernel unpacks as its initramfs.

The format is the kernel's (Documentation/driver-api/early-userspace/
buffer-format.rst; init/initramfs.c reads it): per entry the magic
"070701", thirteen 8-digit hexadecimal fields, the NUL-terminated name and
the data, each padded to 4 bytes; a "TRAILER!!!" entry ends it.  Every
entry has uid/gid 0 and mtime 0, so the same inputs give the same bytes.
"""

import stat
from dataclasses import dataclass

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class Entry:
    """One archive member: ``mode`` holds the file type and permissions;
    ``rdev`` is (major, minor) for a device node."""
    name: str
    mode: int
    data: bytes = b""
    rdev: tuple = (0, 0)


def directory(name):
    return Entry(name, stat.S_IFDIR | 0o755)


def regular(name, data, executable=False):
    return Entry(name, stat.S_IFREG | (0o755 if executable else 0o644), data)


def char_device(name, major, minor):
    return Entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))


def _pad(length):
    return b"\0" * (-length % 4)


def _member(ino, entry):
    name = entry.name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = (ino, entry.mode, 0, 0, nlink, 0, len(entry.data), 0, 0,
              entry.rdev[0], entry.rdev[1], len(name), 0)
    header = MAGIC + b"".join(b"%08x" % field for field in fields)
    return (header + name + _pad(len(header) + len(name))
            + entry.data + _pad(len(entry.data)))


def newc(entries):
    """The archive's bytes: ``entries`` in order, then the trailer."""
    members = [_member(ino, entry) for ino, entry in enumerate(entries, 1)]
    members.append(_member(0, Entry(TRAILER, 0)))
    return b"".join(members)
