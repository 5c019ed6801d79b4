# SPDX-License-Identifier: GPL-2.0-only
"""Reading inputs and writing outputs with errors that name the file.

Outputs go through a temporary file and a rename, so a failed or
interrupted build never leaves a half-written file that a later build (or
a packager) would trust.
"""

import os
import tempfile

from .errors import UserError


def read_bytes(path, limit=None):
    """Read an input file (its first ``limit`` bytes, or all of it), or
    raise UserError naming it."""
    try:
        with open(path, "rb") as f:
            return f.read() if limit is None else f.read(limit)
    except OSError as e:
        raise UserError(f"{path}: cannot read: {e.strerror}") from None


def check_output_dir(top, path, variable, writable=True):
    """Refuse an output directory (``path``, relative to ``top``) that
    cannot become one: empty, a file, or under a file or (``writable``) a
    directory the build cannot write to. Nothing is created."""
    if not path:
        raise UserError(f"{variable}: empty; give an output directory")
    wanted = probe = os.path.normpath(os.path.join(top, path))
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    where = f"{path}" if probe == wanted else f"{path}: {probe}"
    if not os.path.isdir(probe):
        raise UserError(f"{variable}: {where} is not a directory")
    if writable and not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{variable}: {where} is not writable")


def write_atomically(path, data, mode=0o644):
    """Write ``data`` (bytes, or an iterable of bytes written as it comes,
    for a large output) to ``path`` through a temporary file and rename.

    The mode is fixed rather than taken from the umask, so that the output
    is the same file whoever builds it.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory,
                                   prefix=f".{os.path.basename(path)}.")
    except OSError as e:
        raise UserError(f"{path}: cannot write: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, (bytes, bytearray)):
                f.write(data)
            else:
                f.writelines(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise UserError(f"{path}: cannot write: {e.strerror}") from None
        raise


def remove_stale(paths):
    """Remove outputs that a failed gate must not let a later step trust."""
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise UserError(f"{path}: cannot remove stale output: {e.strerror}") from None
