# SPDX-License-Identifier: GPL-2.0-only
"""The documentation: the RPM spec under docs/examples/ builds with
rpmbuild (its debian/ with dpkg-buildpackage: tests/test_debian_package.py),
packaging.md quotes both, every relative link in README.md and docs/
resolves, and the README stays short."""

import hashlib
import os
import re
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import REPO
from debian_packages import (SYSTEM_PATH, example_source, require_packaging_tools,
                             run, system_env)

EXAMPLES = REPO / "docs" / "examples"
INSTALL_DIR = Path("usr/share/kexec-purgatory")
INSTALLED = {"purgatory.ro", "kexec-purgatory.c", "kexec-purgatory.S",
             "purgatory.buildinfo"}
README_MAX_LINES = 200
SPEC = EXAMPLES / "kexec-purgatory-example.spec"


def scons_on_path(tmp_path):
    """A package build's environment whose `scons` is the one the tests
    run (the SCons of sys.executable, e.g. the venv's, with the tool): "the
    tool on PATH" for a source that carries only the tool's shim."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "scons"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m SCons "$@"\n')
    wrapper.chmod(0o755)
    return system_env(PATH=f"{bin_dir}{os.pathsep}{SYSTEM_PATH}", HOME=str(tmp_path))


def rpm_dump(rpm):
    """{path: (mode, sha256)} of an .rpm's files (rpm -qp --dump)."""
    files = {}
    for line in run(["rpm", "-qp", "--dump", rpm]).stdout.splitlines():
        path, _size, _mtime, digest, mode, *_ = line.split()
        files[path] = (int(mode, 8) & 0o7777, digest)
    return files


@pytest.mark.slow
def test_rpm_spec_example_builds_with_rpmbuild_and_installs_with_destdir(built, tmp_path):
    require_packaging_tools("rpmbuild")
    name_version = "kexec-purgatory-example-0.1.0"
    topdir = tmp_path / "rpmbuild"
    (topdir / "SOURCES").mkdir(parents=True)
    example_source(tmp_path / name_version)
    with tarfile.open(topdir / "SOURCES" / f"{name_version}.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / name_version, arcname=name_version)
    run(["nice", "rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {topdir}",
         SPEC], cwd=tmp_path, env=scons_on_path(tmp_path))
    (rpm,) = (topdir / "RPMS").rglob("*.rpm")
    assert rpm.name == f"{name_version}-1.x86_64.rpm"
    files = rpm_dump(rpm)
    shipped = {path for path in files if path.startswith("/usr/share/kexec-purgatory/")}
    assert {Path(p).name for p in shipped} == INSTALLED
    for path in shipped:
        mode, digest = files[path]
        assert mode == 0o644, path
        if not path.endswith(".buildinfo"):
            built_file = built("pic") / Path(path).name
            assert digest == hashlib.sha256(built_file.read_bytes()).hexdigest(), path
    assert any(path.endswith("/COPYING") for path in files)     # %license


# [text](target) and [text]: target; images too. Not inside code spans.
LINK = re.compile(r"\]\(([^)\s]+)\)")


def markdown_files():
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def github_anchors(text):
    """The anchors GitHub gives a document's headings."""
    anchors = set()
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            title = re.sub(r"[^\w\- ]", "", title)
            anchors.add(title.replace(" ", "-"))
    return anchors


def relative_links(path):
    text, in_code = [], False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code:
            text.append(re.sub(r"`[^`]*`", "", line))
    return [target for target in LINK.findall("\n".join(text))
            if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("doc", markdown_files(),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(doc):
    broken = []
    for target in relative_links(doc):
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in github_anchors(dest.read_text()):
            broken.append(f"{target}: no heading #{anchor}")
    assert not broken, f"{doc.relative_to(REPO)}: " + "; ".join(broken)


def test_every_docs_file_is_linked_from_the_readme():
    linked = {(REPO / target.partition("#")[0]).resolve()
              for target in relative_links(REPO / "README.md")}
    for doc in sorted((REPO / "docs").glob("*.md")):
        assert doc in linked, f"README.md does not link {doc.relative_to(REPO)}"


def test_readme_is_short():
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines"


def test_every_docs_file_starts_with_its_license():
    for doc in sorted((REPO / "docs").rglob("*.md")):
        first = doc.read_text().splitlines()[0]
        assert first == "<!-- SPDX-License-Identifier: GPL-2.0-only -->", doc


@pytest.mark.parametrize("example, fence", [("debian/rules", "make"),
                                            ("kexec-purgatory-example.spec", "spec")])
def test_packaging_doc_quotes_the_examples_exactly(example, fence):
    doc = (REPO / "docs" / "packaging.md").read_text()
    blocks = re.findall(rf"^```{fence}\n(.*?)^```$", doc, re.S | re.M)
    assert blocks == [(EXAMPLES / example).read_text()]
