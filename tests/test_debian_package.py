# SPDX-License-Identifier: GPL-2.0-only
"""The tool's own Debian package (debian/): dpkg-buildpackage builds
python3-kexec-purgatory and kexec-purgatory from a copy of the tree with
Debian's python3 and packages only, lintian finds no error, the packages
hold everything the wheel holds and depend on Debian's packages, and,
installed with dpkg -i, they build a kernel-like tree with /usr/bin/scons
byte-identical to the venv's build."""

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import REPO, run_scons
from debian_packages import (copy_source, deb_contents, deb_field,
                             dpkg_buildpackage, example_source, lintian_errors,
                             require_root_for_dpkg, run, system_env)
from kernel_tree import make_kernel_tree, outputs_of
from linux_trees import locked

pytestmark = pytest.mark.slow

PACKAGES = ("python3-kexec-purgatory", "kexec-purgatory")
SITE = Path("usr/lib/python3/dist-packages")
# What the module needs from Debian (dh_python3 finds them in the wheel's
# requirements, pyproject.toml's dependencies).
DEPENDS = ("python3-pyelftools", "python3-capstone", "python3-unicorn",
           "python3-intelhex", "python3-zstandard", "python3-lz4", "scons")

WHEEL_SCHEMES = {"../scripts/": "usr/bin/", "../data/": "usr/"}


@pytest.fixture(scope="session")
def debs(tmp_path_factory):
    """The two binary packages, built once from a copy of the tree (once
    for all pytest-xdist workers: in the directory they share)."""
    shared = tmp_path_factory.getbasetemp().parent
    with locked(shared / ".lock-debs"):
        source = shared / "debs" / "kexec-purgatory"
        built = {deb.name.split("_")[0]: deb for deb in source.parent.glob("*.deb")}
        if not built:
            built = dpkg_buildpackage(copy_source(source))
    assert set(built) == set(PACKAGES), built
    return built


@pytest.fixture
def installed(debs):
    """The packages installed with dpkg -i, removed again at the end; one
    test at a time holds them (pytest-xdist workers wait for each other)."""
    require_root_for_dpkg()
    with locked(debs["kexec-purgatory"].parent / ".lock-installed"):
        for package in PACKAGES:
            status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                                    capture_output=True, text=True)
            assert "installed" not in status.stdout.split(), \
                f"{package} is installed already; the test would remove it"
        try:
            run(["dpkg", "-i", *debs.values()])
            yield debs
        finally:
            subprocess.run(["dpkg", "-r", *PACKAGES], env=system_env(),
                           capture_output=True, timeout=300)


def test_debian_packages_build_and_lintian_finds_no_error(debs):
    (changes,) = debs["kexec-purgatory"].parent.glob("*.changes")
    assert lintian_errors(changes) == []


def test_python3_package_depends_on_debian_packages_and_holds_the_module_and_tool(debs):
    depends = deb_field(debs["python3-kexec-purgatory"], "Depends")
    for package in DEPENDS:
        assert package in depends.replace(",", " ").split(), (package, depends)
    files = deb_contents(debs["python3-kexec-purgatory"])
    assert f"{SITE}/kexec_purgatory/site_tools/purgatory.py" in files
    assert f"{SITE}/kexec_purgatory/scons/kernel.SConscript" in files
    command = deb_contents(debs["kexec-purgatory"])
    assert command["usr/bin/kexec-purgatory"] == "-rwxr-xr-x"
    assert "python3-kexec-purgatory (= " in deb_field(debs["kexec-purgatory"], "Depends")


def test_debian_packages_ship_every_file_the_wheel_installs(debs):
    """The wheel's RECORD (the dist-info the package holds) against the two
    packages' files: the command, and any manual page or completion the
    wheel carries under share/, are shipped too."""
    files = set(deb_contents(debs["python3-kexec-purgatory"]))
    files |= set(deb_contents(debs["kexec-purgatory"]))
    (record,) = [f for f in files if f.endswith(".dist-info/RECORD")]
    listed = subprocess.run(["dpkg-deb", "--fsys-tarfile",
                             debs["python3-kexec-purgatory"]],
                            capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(listed)) as tar:
        text = tar.extractfile(f"./{record}").read().decode()
    missing = []
    for line in text.splitlines():
        path = line.split(",")[0]
        # pybuild installs the wheel's scripts and data (its own scheme:
        # ../scripts, ../data) to /usr/bin and /usr.
        for scheme, prefix in WHEEL_SCHEMES.items():
            if path.startswith(scheme):
                path = prefix + path.removeprefix(scheme)
                break
        else:
            path = os.path.normpath(SITE / path)
        # dh_compress gzips manual pages.
        shipped = path in files or (path.startswith("usr/share/man/")
                                    and path + ".gz" in files)
        if not path.endswith(".pyc") and not shipped:
            missing.append(path)
    assert missing == []
    assert "usr/bin/kexec-purgatory" in files


def test_installed_package_builds_a_kernel_like_tree_with_usr_bin_scons_like_the_venv(
        installed, tmp_path):
    packaged = make_kernel_tree(tmp_path / "packaged", loader="pip")
    result = run(["/usr/bin/scons", "-Q"], cwd=packaged,
                 env=system_env(HOME=str(tmp_path)))
    assert f"tool from /{SITE}/kexec_purgatory/site_tools" in result.stdout
    venv = make_kernel_tree(tmp_path / "venv", loader="site_scons")
    run_scons(venv)
    for name, path in outputs_of(packaged / "build").items():
        assert path.read_bytes() == outputs_of(venv / "build")[name].read_bytes(), name
    check = run(["/usr/bin/kexec-purgatory", "check",
                 outputs_of(packaged / "build")["purgatory.ro"]], cwd=tmp_path)
    assert check.returncode == 0


# -- docs/examples/debian: a package that builds its purgatory with the tool

EXAMPLE_INSTALLED = {"purgatory.ro", "kexec-purgatory.c", "kexec-purgatory.S",
                     "purgatory.buildinfo"}
EXAMPLE_DIR = "usr/share/kexec-purgatory"


def test_debian_rules_example_builds_with_the_installed_tool_and_installs_with_destdir(
        installed, built, tmp_path):
    source = example_source(tmp_path / "kexec-purgatory-example")
    shutil.copytree(REPO / "docs" / "examples" / "debian", source / "debian")
    result = run(["nice", "dpkg-buildpackage", "-us", "-uc", "-b"], cwd=source,
                 env=system_env(HOME=str(tmp_path)))
    # Debian's hardening flags reach the build, and are dropped there.
    assert "dropped flags that break a freestanding purgatory" in result.stdout
    (deb,) = tmp_path.glob("kexec-purgatory-example_*.deb")
    (changes,) = tmp_path.glob("kexec-purgatory-example_*.changes")
    assert lintian_errors(changes) == []
    files = deb_contents(deb)
    shipped = {path for path in files if path.startswith(EXAMPLE_DIR)}
    assert shipped == {f"{EXAMPLE_DIR}/{name}" for name in EXAMPLE_INSTALLED}
    assert {files[path] for path in shipped} == {"-rw-r--r--"}
    unpacked = tmp_path / "unpacked"
    run(["dpkg-deb", "-x", deb, unpacked])
    for name in EXAMPLE_INSTALLED - {"purgatory.buildinfo"}:
        assert (unpacked / EXAMPLE_DIR / name).read_bytes() == \
            (built("pic") / name).read_bytes(), name
    # debian/rules clean (dpkg-buildpackage ran it first) removes the build.
    run(["debian/rules", "clean"], cwd=source,
        env=system_env(HOME=str(tmp_path)))
    assert not (source / "debian" / "build").exists()
