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


def refuse_overwriting_input(output, *inputs, option="-o"):
    """Refuse an ``output`` that is one of the ``inputs`` (the same file by
    any name: a link, ``./``, another spelling), so that no command writes
    over what it reads, and an output whose directory does not exist: a
    typo must not create a tree, at the root of the file system or
    anywhere else."""
    for source in inputs:
        try:
            same = os.path.samefile(source, output)
        except OSError:
            same = os.path.realpath(source) == os.path.realpath(output)
        if same:
            raise UserError(f"{output}: is the input {source}; give another "
                            f"{option}")
    require_output_directory(output)


def require_output_directory(path):
    """UserError unless the directory ``path`` goes into exists."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        named = os.path.dirname(path) or directory
        why = ("is not a directory" if os.path.lexists(directory)
               else "does not exist (create it first)")
        raise UserError(f"{path}: cannot write: directory {named} {why}")


def work_directory(path, option):
    """The directory ``path`` a command keeps its work in (``option`` names
    it in errors): made if missing, but not a whole missing path (a typo)."""
    if not os.path.isdir(path):
        require_output_directory(path)
        try:
            os.mkdir(path)
        except OSError as e:
            raise UserError(f"{option} {path}: cannot create it: "
                            f"{e.strerror}") from None
    return path


def check_build_dir(top, path, source_dirs, variable="O"):
    """Refuse an output directory ``path`` (relative to the tree ``top``)
    that is the tree itself, holds it, or lies in one of its source
    directories (``source_dirs``, relative to ``top``): outputs would mix
    with the sources, and ``scons -c`` or a stale output could then touch
    them. Nothing is created."""
    top = os.path.realpath(top)
    wanted = os.path.realpath(os.path.join(top, path))
    if wanted == top or top.startswith(wanted.rstrip(os.sep) + os.sep):
        where = "is the source tree" if wanted == top else "holds the source tree"
        raise UserError(f"{variable}: {path} {where} {top}; give a directory "
                        "of its own, such as build")
    for name in source_dirs:
        source = os.path.realpath(os.path.join(top, name))
        if wanted == source or wanted.startswith(source + os.sep):
            raise UserError(f"{variable}: {path} is in the source directory "
                            f"{name}/; give a directory of its own, such as build")


def write_atomically(path, data, mode=0o644):
    """Write ``data`` (bytes, or an iterable of bytes written as it comes,
    for a large output) to ``path`` through a temporary file and rename.

    The mode is fixed rather than taken from the umask, so that the output
    is the same file whoever builds it. The directory must exist: nothing
    is created on the way (a build system creates its output directories).
    """
    directory = os.path.dirname(os.path.abspath(path))
    require_output_directory(path)
    try:
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
