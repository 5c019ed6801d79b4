# SPDX-License-Identifier: GPL-2.0-only
"""Installing the outputs: content, a fixed mode and a chosen mtime.

A copy that keeps the build's metadata (``shutil.copy2``, SCons' Install)
carries the build's umask-dependent mode and its timestamps into the
package. Here the content is copied, the mode is always 0644, and the
mtime is SOURCE_DATE_EPOCH when the caller set it (what reproducible
package builds expect), otherwise the time of the install -- never the
time of the build, and never a fixed old date that would make a
downstream make think an updated blob is older than what it built.
"""

import os

from ..errors import UserError
from ..files import read_bytes, write_atomically

MODE = 0o644


def source_date_epoch(environ):
    """SOURCE_DATE_EPOCH as an int, None when unset; UserError when malformed."""
    value = environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise UserError(f"SOURCE_DATE_EPOCH: {value!r} is not a number of "
                        "seconds since 1970")
    return int(value)


def install_root(destdir, prefix):
    """$DESTDIR$PREFIX: PREFIX must be absolute (DESTDIR=/x PREFIX=usr
    would install into /xusr)."""
    if not prefix.startswith("/"):
        raise UserError(f"PREFIX: {prefix!r} is not an absolute path (such as "
                        "/usr or /usr/local); DESTDIR is put in front of it")
    return f"{destdir}{prefix}"


def install_file(source, target, epoch=None):
    """Copy ``source`` to ``target`` atomically, mode 0644, mtime ``epoch``."""
    write_atomically(target, read_bytes(source), mode=MODE)
    if epoch is not None:
        try:
            os.utime(target, (epoch, epoch))
        except (OSError, OverflowError) as e:
            raise UserError(f"{target}: cannot set its time to "
                            f"SOURCE_DATE_EPOCH={epoch}: {e}") from None
