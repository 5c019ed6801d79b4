# SPDX-License-Identifier: GPL-2.0-only
"""Debian's kernel images, and the sources they were built from, for the
tests, downloaded once into a cache.

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

``source(version, arch)`` gives Debian's ``linux-source-X.Y.tar.xz`` and
the ARCH configs of ``linux-config-X.Y`` at exactly VERSION (9 s, 150 MB
kept), and ``verify_work(name)`` a work directory for ``verify-kernel``
under ``verify-kernel/`` in the cache root, kept between runs so that a warm
run skips its extraction and prepare (verify-kernel's own stamps say when
they are done and for what).

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


def _cached(final, what, make):
    """``final``, made by ``make(tmp)`` in a temporary directory renamed when
    complete, under the cache's lock; apt's failures as NotDownloaded."""
    final.parent.mkdir(parents=True, exist_ok=True)
    with linux_trees.locked(final.parent / ".lock"):
        try:
            linux_trees._step(final, make, what)
        except debian_archive.AptFailed as e:
            raise NotDownloaded(str(e)) from None
    return final


def image(arch, flavour, version):
    """The vmlinuz of linux-image-*-FLAVOUR:ARCH at VERSION (see above)."""
    def make(tmp):
        apt = debian_archive.PrivateApt(tmp / ".apt",
                                        [(suite, arch) for suite in SUITES])
        package, exact = _wanted(apt, arch, flavour, version)
        apt.download([f"{package}:{arch}={exact}"], cwd=tmp)
        deb = next(tmp.glob("linux-image-*.deb"))
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb],
                             check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp, "--wildcards",
                        "./boot/vmlinuz-*"], input=tar, check=True)
        vmlinuz = next((tmp / "boot").glob("vmlinuz-*"))
        os.replace(vmlinuz, tmp / vmlinuz.name)
        (tmp / "PACKAGE").write_text(
            f"{package}:{arch}={exact} {deb.stat().st_size}\n")
        _remove(tmp, ".apt", "boot", deb.name)

    final = _cached(cache_dir() / f"{arch}-{flavour}-{version}",
                    f"apt-get download Debian's linux-image {flavour}:{arch} "
                    f"{version}", make)
    return next(final.glob("vmlinuz-*"))


def source(version, arch):
    """(tarball, configs): the ``linux-source-X.Y-*.tar.xz`` of Debian's
    linux-source-X.Y at exactly VERSION (e.g. 6.12.95-1~bpo12+1, from
    whichever of SUITES has it) and the directory of the config.*.xz files
    of linux-config-X.Y:ARCH at the same version.  Only those are kept
    (about 150 MB), under ``sources/`` in the cache root."""
    series = re.match(r"\d+\.\d+", version).group(0)

    def make(tmp):
        apt = debian_archive.PrivateApt(
            tmp / ".apt", sorted({(suite, a) for suite in SUITES
                                  for a in ("amd64", arch)}))
        apt.download([f"linux-source-{series}={version}",
                      f"linux-config-{series}:{arch}={version}"], cwd=tmp)
        for deb in tmp.glob("linux-*.deb"):
            subprocess.run(["dpkg-deb", "-x", deb, tmp / "deb"], check=True)
        found = tmp / "deb/usr/src"
        os.replace(next(found.glob(f"linux-source-{series}.tar.*")),
                   tmp / f"linux-source-{series}.tar.xz")
        os.replace(found / f"linux-config-{series}", tmp / "configs")
        (tmp / "PACKAGES").write_text(
            "".join(f"{deb.name}\n" for deb in sorted(tmp.glob("*.deb"))))
        _remove(tmp, ".apt", "deb", *(d.name for d in tmp.glob("*.deb")))

    final = _cached(linux_trees.cache_root() / "sources" / f"linux-{version}-{arch}",
                    f"apt-get download Debian's linux-source-{series} and "
                    f"linux-config-{series}:{arch} {version} (about 150 MB)", make)
    return final / f"linux-source-{series}.tar.xz", final / "configs"


def verify_work(name):
    """A kept work directory for ``verify-kernel --work`` (see above)."""
    work = linux_trees.cache_root() / "verify-kernel" / name
    work.mkdir(parents=True, exist_ok=True)
    return work


def _remove(where, *names):
    for name in names:
        path = where / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def package_of(vmlinuz):
    """'name:arch=version' of the package the cached ``vmlinuz`` came from."""
    return (Path(vmlinuz).parent / "PACKAGE").read_text().split()[0]
