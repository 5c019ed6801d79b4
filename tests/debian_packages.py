# SPDX-License-Identifier: GPL-2.0-only
"""Building and installing Debian packages in tests, as a clean chroot
would: dpkg-buildpackage and lintian run with the system's PATH only (no
venv, no pyenv), so the build uses Debian's python3 and its packages."""

import os
import shutil
import subprocess
from pathlib import Path

from conftest import IGNORED, REPO, copy_tree, require_tool

SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# What a copy of the source tree leaves behind: the checkout's own
# environment and outputs (the top-level build/ only: the package has a
# build/ sub-package).
SOURCE_IGNORED = {".git", ".venv", ".venv-debian", "build", "dist", ".pytest_cache",
                  ".hypothesis"}
# dpkg-buildpackage, lintian and rpmbuild take well under a minute here.
TIMEOUT = 600


def system_env(**extra):
    """The environment of a package build: the system's PATH, no Python
    variables of the test's own venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
           and not k.startswith("PYENV")}
    env.update(PATH=SYSTEM_PATH, LC_ALL="C.UTF-8")
    env.update(extra)
    return env


def copy_source(dest):
    """The project's source as a source package holds it."""
    def ignored(directory, names):
        skip = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")
                or n.startswith(".sconsign")}
        if Path(directory) == REPO:
            skip |= SOURCE_IGNORED & set(names)
        return skip
    shutil.copytree(REPO, dest, ignore=ignored, symlinks=True)
    return Path(dest)


def run(command, cwd=None, env=None):
    """Run a packaging command; its output in the assertion if it fails."""
    result = subprocess.run(command, cwd=cwd, env=env or system_env(),
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
        f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    return result


def require_packaging_tools(*tools):
    for tool in tools:
        require_tool(shutil.which(tool, path=SYSTEM_PATH),
                     f"{tool} not installed (.ci/run installs it)")


def dpkg_buildpackage(source):
    """Build the binary packages of the source tree ``source`` (unsigned);
    returns {package name: .deb Path}."""
    require_packaging_tools("dpkg-buildpackage", "dh")
    run(["nice", "dpkg-buildpackage", "-us", "-uc", "-b"], cwd=source)
    return {deb.name.split("_")[0]: deb for deb in source.parent.glob("*.deb")}


def deb_field(deb, field):
    return run(["dpkg-deb", "-f", deb, field]).stdout.strip()


def deb_contents(deb):
    """{path without the leading "./": mode string} of a .deb's files."""
    files = {}
    for line in run(["dpkg-deb", "-c", deb]).stdout.splitlines():
        mode, *_, path = line.split(None, 5)
        if not mode.startswith("d"):
            files[path.removeprefix("./")] = mode
    return files


def lintian_errors(changes):
    """lintian's error tags ("E: ...") for the packages of a .changes."""
    require_packaging_tools("lintian")
    result = subprocess.run(["lintian", "--no-cfg", changes], env=system_env(),
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode in (0, 1, 2), result.stderr
    return [line for line in result.stdout.splitlines() if line.startswith("E:")]


def require_root_for_dpkg():
    require_tool(os.geteuid() == 0, "dpkg -i needs root")


# The examples' source (docs/examples/): this tree's purgatory and
# SConstruct with only the tool's shim in site_scons/, so that the tool
# comes from where the package build finds it (an installed package, a
# scons on PATH whose Python has it), not from the source.
EXAMPLE_SOURCE = ("SConstruct", "SConscript", "purgatory", "arch", "COPYING")


def example_source(dest):
    dest = copy_tree(dest, EXAMPLE_SOURCE)
    shutil.copytree(REPO / "site_scons" / "site_tools",
                    dest / "site_scons" / "site_tools", ignore=IGNORED)
    return dest
