# SPDX-License-Identifier: GPL-2.0-only
"""Debian's archive for the tests, as the machine reaches it, without
changing the machine's apt setup.

``PrivateApt(where, suites)`` runs ``apt-get`` and ``apt-cache`` on a
sources list, lists and package cache of its own under ``where``, given
with ``-o Dir::Etc::SourceList=... -o Dir::Etc::SourceParts=/dev/null -o
Dir::State::Lists=... -o Dir::Cache=...`` and ``-o
APT::Architectures::=ARCH`` for other architectures' packages: suites and
architectures the machine's apt does not list (bookworm-backports, trixie,
sid; s390x, ppc64el, riscv64) become reachable, and nothing under /etc/apt
or /var/lib/apt is written.  Its sources list uses the mirrors the
machine's apt uses for its own release (``mirrors()``).
"""

import functools
import os
import re
import subprocess
import tempfile
from pathlib import Path


class AptFailed(Exception):
    """An apt command failed, or the archive lacks what was asked for; the
    message says which."""


def run(argv, cwd=None, error=AptFailed):
    """Run a command (C locale); its output, or ``error`` with the command
    and the tail of what it printed."""
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                            env=dict(os.environ, LC_ALL="C"))
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise error(f"{' '.join(map(str, argv))} failed "
                    f"({result.returncode}):\n" + "\n".join(tail))
    return result.stdout


_run = run


def mirrors():
    """(archive, security archive) base URIs the machine's apt uses for its
    own Debian release, from the files `apt-get update` would fetch
    (printed, not fetched, with empty private lists so the machine's own
    stay untouched and unlocked)."""
    release = Path("/etc/os-release")
    codename = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', release.read_text(),
                               re.M) if release.exists() else ()
                    ).get("VERSION_CODENAME", "")
    with tempfile.TemporaryDirectory() as lists:
        os.mkdir(os.path.join(lists, "partial"))
        out = _run(["apt-get", "update", "--print-uris",
                    "-o", f"Dir::State::Lists={lists}"])
    bases = {}
    for base, suite in re.findall(r"'(\S+?)/dists/([^/']+)/(?:In)?Release'",
                                  out):
        bases.setdefault(suite, base)
    if not codename or codename not in bases:
        raise AptFailed(
            f"apt lists no Debian archive for this machine's release "
            f"({codename or 'no VERSION_CODENAME in /etc/os-release'}) to "
            "download kernel packages from")
    # Without the security archive in the sources: its usual place beside
    # the main one.
    security = bases.get(f"{codename}-security",
                         bases[codename].rstrip("/") + "-security")
    return bases[codename], security


class PrivateApt:
    """apt-get and apt-cache on a sources list, lists and package cache of
    their own under ``where``: suites and architectures the machine's apt
    does not list, without writing to /etc/apt or /var/lib/apt."""

    def __init__(self, where, suites):
        main, security = mirrors()
        where.mkdir(parents=True)
        (where / "lists/partial").mkdir(parents=True)
        (where / "cache/archives/partial").mkdir(parents=True)
        lines = []
        for suite, arch in suites:
            base = security if suite.endswith("-security") else main
            lines.append(f"deb [arch={arch}] {base} {suite} main\n")
        (where / "sources.list").write_text("".join(lines))
        self.options = [
            "-o", f"Dir::Etc::SourceList={where / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={where / 'lists'}",
            "-o", f"Dir::Cache={where / 'cache'}",
            "-o", "Acquire::Languages=none",
            # The cache is root's own: downloading as _apt could not write.
            "-o", "APT::Sandbox::User=root",
        ]
        for arch in sorted({arch for _, arch in suites}):
            self.options += ["-o", f"APT::Architectures::={arch}"]
        _run(["apt-get", "-q", *self.options, "update"])

    def candidates(self, package, suite):
        """The versions of ``package`` (``name:arch``) in ``suite``, newest
        first."""
        out = _run(["apt-cache", *self.options, "madison", package])
        versions = []
        for line in out.splitlines():
            fields = [f.strip() for f in line.split("|")]
            if len(fields) == 3 and fields[2].split()[1].split("/")[0] == suite:
                versions.append(fields[1])
        return newest_first(versions)

    def names(self, prefix):
        return _run(["apt-cache", *self.options, "pkgnames",
                     prefix]).split()

    def download(self, packages, cwd):
        _run(["apt-get", "-q", *self.options, "download", *packages], cwd=cwd)


def newest_first(versions):
    """Debian version strings, newest first (dpkg's order)."""
    def compare(a, b):
        if a == b:
            return 0
        newer = subprocess.run(["dpkg", "--compare-versions", a, "gt", b])
        return -1 if newer.returncode == 0 else 1
    return sorted(set(versions), key=functools.cmp_to_key(compare))
