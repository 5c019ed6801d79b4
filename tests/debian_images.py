# SPDX-License-Identifier: GPL-2.0-only
"""Debian's kernel images for the tests, downloaded once into a cache.

``image(arch, flavour, version)`` returns the path of ``/boot/vmlinuz-*``
from Debian's ``linux-image-*-FLAVOUR`` package for ARCH (a Debian
architecture) whose version is VERSION, or the newest whose version starts
with it when VERSION ends in "-" or ".".  The package comes through a
private apt configuration (tests/debian_archive.py: bookworm,
bookworm-security and bookworm-backports, nothing under /etc/apt written);
only the vmlinuz is kept, under ``images/`` in the kernel trees' cache root
(tests/linux_trees.py), in a directory made in a temporary one and renamed
when complete, under a lock so that concurrent workers download it once.

Measured here: the 6.1 and 6.12 cloud-amd64 packages are 27 and 34 MB
(vmlinuz 14.2 and 11.7 MB), the s390x one 49 MB (vmlinuz 8.0 MB); each
takes 2 to 5 s with apt's lists.

Tests reach it through conftest's ``kernel_images`` fixture, which marks
them ``kernel`` like ``kernel_trees``.
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import debian_archive
import linux_trees

SUITES = ("bookworm", "bookworm-security", "bookworm-backports")


class NotDownloaded(Exception):
    """The archive lacks the image, or apt failed; the message says which."""


def cache_dir():
    return linux_trees.cache_root() / "images"


def _wanted(apt, arch, flavour, version):
    """(package, version) of the image to download."""
    names = [n for n in apt.names("linux-image-")
             if re.fullmatch(rf"linux-image-[0-9][0-9a-z.+~-]*-{re.escape(flavour)}", n)]
    if not names:
        raise NotDownloaded(f"no linux-image-*-{flavour} for {arch}")
    out = debian_archive.run(["apt-cache", *apt.options, "madison",
                              *(f"{n}:{arch}" for n in names)])
    found = []
    for line in out.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) != 3:
            continue
        name, candidate = fields[0].split(":")[0], fields[1]
        if (candidate == version or version.endswith(("-", "."))
                and candidate.startswith(version)):
            found.append((candidate, name))
    if not found:
        raise NotDownloaded(f"no linux-image-*-{flavour}:{arch} at version "
                            f"{version}{'*' if version[-1] in '-.' else ''} in "
                            f"{', '.join(SUITES)}")
    newest = debian_archive.newest_first([v for v, _ in found])[0]
    return next(n for v, n in found if v == newest), newest


def image(arch, flavour, version):
    """The vmlinuz of linux-image-*-FLAVOUR:ARCH at VERSION (see above)."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{arch}-{flavour}-{version}"
    with linux_trees.locked(root / ".lock"):
        if not final.exists():
            linux_trees._say(f"apt-get download Debian's linux-image "
                             f"{flavour}:{arch} {version} into {final}")
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
            try:
                try:
                    apt = debian_archive.PrivateApt(
                        tmp / ".apt", [(suite, arch) for suite in SUITES])
                    package, exact = _wanted(apt, arch, flavour, version)
                    apt.download([f"{package}:{arch}={exact}"], cwd=tmp)
                except debian_archive.AptFailed as e:
                    raise NotDownloaded(str(e)) from None
                deb = next(tmp.glob("linux-image-*.deb"))
                tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb],
                                     check=True, capture_output=True).stdout
                subprocess.run(["tar", "-x", "-C", tmp, "--wildcards",
                                "./boot/vmlinuz-*"], input=tar, check=True)
                vmlinuz = next((tmp / "boot").glob("vmlinuz-*"))
                os.replace(vmlinuz, tmp / vmlinuz.name)
                (tmp / "PACKAGE").write_text(
                    f"{package}:{arch}={exact} {deb.stat().st_size}\n")
                for leftover in (".apt", "boot", deb.name):
                    path = tmp / leftover
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return next(final.glob("vmlinuz-*"))


def package_of(vmlinuz):
    """'name:arch=version' of the package the cached ``vmlinuz`` came from."""
    return (Path(vmlinuz).parent / "PACKAGE").read_text().split()[0]
