# SPDX-License-Identifier: GPL-2.0-only
"""A Linux source tarball (Debian's ``linux-source-X.Y.tar.xz``), extracted
only as far as ``make olddefconfig prepare`` and the purgatory read it.

A whole 6.12 tree is 1.6 GB; without the sources of drivers, file systems,
networking, sound and the other architectures, device trees, tools' tests
and perf, and the documentation, it is about 200 MB, and extracting it
writes that much less.  Every Kconfig file and Makefile stays, so Kconfig
sees the whole tree.
"""

import os
import shutil
import subprocess
import tarfile
import tempfile

from ..errors import UserError

ALL_ARCHES = ("alpha", "arc", "arm", "arm64", "csky", "hexagon", "ia64",
              "loongarch", "m68k", "microblaze", "mips", "nios2", "openrisc",
              "parisc", "powerpc", "riscv", "s390", "sh", "sparc", "um",
              "x86", "xtensa")

# Marks a directory extract() completed, and from what.
STAMP = ".kexec-purgatory-source"


def excludes(top, arches):
    """tar's options leaving out what the purgatory and prepare never read
    for the Kbuild architectures ``arches``, as patterns anchored at the
    tarball's top directory ``top`` (unanchored, ``*/net/*.[ch]`` would
    also drop include/net, which s390's asm-offsets.c reads)."""
    patterns = [f"{top}/Documentation/[!K]*", f"{top}/drivers/*.[ch]",
                f"{top}/sound/*.[ch]", f"{top}/net/*.[ch]",
                f"{top}/fs/*.[ch]", f"{top}/arch/*/boot/dts",
                f"{top}/tools/testing", f"{top}/tools/perf"]
    patterns += [f"{top}/arch/{arch}/*.[chS]" for arch in ALL_ARCHES
                 if arch not in arches]
    return ["--anchored", *(f"--exclude={p}" for p in patterns)]


def top_directory(tarball):
    """The directory the tarball's first member is in ('linux-source-6.12')."""
    try:
        with tarfile.open(tarball) as tar:
            first = tar.next()
    except (OSError, EOFError, tarfile.TarError) as e:
        raise UserError(f"{tarball}: not a readable tar archive ({e})") from None
    if first is None:
        raise UserError(f"{tarball}: an empty tar archive")
    return first.name.lstrip("./").split("/")[0]


def _identity(tarball, arches):
    info = os.stat(tarball)
    return (f"{os.path.realpath(tarball)} {info.st_size} {info.st_mtime_ns} "
            f"{','.join(sorted(arches))}\n")


def identity(dest):
    """What extract() made ``dest`` from (tarball, size, mtime and
    architectures), or None."""
    try:
        with open(os.path.join(dest, STAMP)) as f:
            return f.read()
    except OSError:
        return None


def extract(tarball, dest, arches, say=None):
    """Extract ``tarball`` into the directory ``dest`` (its top directory
    stripped) for the Kbuild architectures ``arches``, unless done already;
    made in a temporary directory beside it and renamed when complete.
    ``say(text)`` is told before it starts.  Returns whether it extracted."""
    wanted = _identity(tarball, arches)
    if identity(dest) == wanted:
        return False
    top = top_directory(tarball)
    if say:
        say(f"extracting {tarball} into {dest} for {', '.join(arches)} "
            "(up to a minute)")
    parent = os.path.dirname(os.path.abspath(dest))
    tmp = tempfile.mkdtemp(prefix=".src-", dir=parent)
    try:
        result = subprocess.run(
            ["tar", "-x", "-C", tmp, "--strip-components=1",
             *excludes(top, arches), "-f", tarball],
            capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
        if result.returncode != 0:
            tail = result.stderr.strip().splitlines()[-1:] or [""]
            raise UserError(f"tar -x {tarball} failed ({result.returncode}): "
                            f"{tail[0]}")
        with open(os.path.join(tmp, STAMP), "w") as f:
            f.write(wanted)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True
