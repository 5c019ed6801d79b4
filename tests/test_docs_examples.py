# SPDX-License-Identifier: GPL-2.0-only
"""The documentation: the packaging examples under docs/examples/ run as
written (debian/rules' targets, the RPM spec's build and install sections),
every relative link in README.md and docs/ resolves, and the README stays
short."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, TREE_ENTRIES, copy_tree, require_tool

EXAMPLES = REPO / "docs" / "examples"
INSTALL_DIR = Path("usr/share/kexec-purgatory")
INSTALLED = {"purgatory.ro", "kexec-purgatory.c", "kexec-purgatory.S",
             "purgatory.buildinfo"}
CROSS_COMPILE = "x86_64-linux-gnu-"
README_MAX_LINES = 200

# What the spec's macros expand to on Fedora (x86_64), for the ones it uses.
FEDORA_MACROS = {
    "optflags": "-O2 -flto=auto -ffat-lto-objects -fexceptions -g "
                "-grecord-gcc-switches -pipe -Wall -Werror=format-security "
                "-Wp,-U_FORTIFY_SOURCE,-D_FORTIFY_SOURCE=3 "
                "-Wp,-D_GLIBCXX_ASSERTIONS "
                "-specs=/usr/lib/rpm/redhat/redhat-hardened-cc1 "
                "-fstack-protector-strong "
                "-specs=/usr/lib/rpm/redhat/redhat-annobin-cc1 -m64 "
                "-march=x86-64 -mtune=generic -fasynchronous-unwind-tables "
                "-fstack-clash-protection -fcf-protection "
                "-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer",
    "build_ldflags": "-Wl,-z,relro -Wl,--as-needed -Wl,-z,now "
                     "-specs=/usr/lib/rpm/redhat/redhat-hardened-ld "
                     "-specs=/usr/lib/rpm/redhat/redhat-annobin-cc1 "
                     "-Wl,--build-id=sha1",
    "_prefix": "/usr",
    "_datadir": "/usr/share",
    "_mandir": "/usr/share/man",
    # "buildroot" is the test's own directory.
}


def scons_on_path(tmp_path):
    """An environment whose `scons` is the one the tests run (the SCons of
    sys.executable, e.g. the venv's), as a package build's would be."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "scons"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m SCons "$@"\n')
    wrapper.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                SOURCE_DATE_EPOCH="1700000000")


def run(command, cwd, env):
    old = os.umask(0o077)      # installed files are 0644 whatever the umask
    try:
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True,
                                text=True)
    finally:
        os.umask(old)
    assert result.returncode == 0, (
        f"{command} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def assert_installed(directory):
    assert directory.is_dir(), directory
    assert {p.name for p in directory.iterdir()} == INSTALLED
    for path in directory.iterdir():
        assert path.stat().st_mode & 0o7777 == 0o644, path


@pytest.fixture
def packaged_tree(tmp_path):
    """A copy of the tree as a source package has it: docs/ included."""
    return copy_tree(tmp_path / "tree", TREE_ENTRIES + ("docs", "COPYING"))


def test_debian_rules_example_builds_installs_and_cleans(packaged_tree, tmp_path):
    require_tool(shutil.which("dpkg-buildflags"),
                 "dpkg-buildflags not installed (Debian package dpkg-dev)")
    require_tool(shutil.which(f"{CROSS_COMPILE}gcc") and shutil.which(f"{CROSS_COMPILE}ld"),
                 f"{CROSS_COMPILE}gcc/ld not installed (Debian: "
                 "gcc-x86-64-linux-gnu, binutils-x86-64-linux-gnu)")
    env = scons_on_path(tmp_path)
    rules = ["make", "-f", "docs/examples/debian-rules"]
    build = run([*rules, "override_dh_auto_build"], packaged_tree, env)
    # Debian's hardening flags reach the build, and are dropped there.
    assert "dropped flags that break a freestanding purgatory" in build.stdout
    assert (packaged_tree / "debian/build/purgatory.ro").is_file()
    run([*rules, "override_dh_auto_install"], packaged_tree, env)
    assert_installed(packaged_tree / "debian/kexec-purgatory" / INSTALL_DIR)
    run([*rules, "override_dh_auto_clean"], packaged_tree, env)
    assert not (packaged_tree / "debian/build").exists()


def spec_sections(text):
    """{section name: its lines} of an RPM spec ("%build" -> "build")."""
    sections, current = {}, None
    for line in text.splitlines():
        match = re.fullmatch(r"%([a-z]+)\b.*", line)
        if match and match.group(1) in ("prep", "build", "install", "check",
                                         "files", "changelog", "description"):
            current = sections.setdefault(match.group(1), [])
        elif current is not None:
            current.append(line)
    return sections


def expand(line, macros):
    def value(match):
        name = match.group(1)
        assert name in macros, f"the test does not know the spec's macro %{{{name}}}"
        return macros[name]
    return re.sub(r"%\{([A-Za-z_]+)\}", value, line)


def test_rpm_spec_example_build_and_install_sections_run(packaged_tree, tmp_path):
    sections = spec_sections((EXAMPLES / "kexec-purgatory.spec").read_text())
    buildroot = tmp_path / "buildroot"
    macros = {**FEDORA_MACROS, "buildroot": str(buildroot)}
    env = scons_on_path(tmp_path)
    for name in ("build", "install"):
        script = "\n".join(expand(line, macros) for line in sections[name])
        run(["sh", "-e", "-c", script], packaged_tree, env)
    files = [expand(line, macros) for line in sections["files"]
             if line.strip() and not line.startswith("%license")]
    assert files == ["/usr/share/kexec-purgatory/", "/usr/share/man/man1/kexec-purgatory.1*",
                     "/usr/share/bash-completion/completions/kexec-purgatory",
                     "/usr/share/zsh/site-functions/_kexec-purgatory"]
    assert_installed(buildroot / files[0].strip("/"))
    for listed in files[1:]:        # every file install wrote is packaged
        assert list(buildroot.glob(listed.strip("/"))), listed
    assert (packaged_tree / "COPYING").is_file()    # %license


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


@pytest.mark.parametrize("example, fence", [("debian-rules", "make"),
                                            ("kexec-purgatory.spec", "spec")])
def test_packaging_doc_quotes_the_examples_exactly(example, fence):
    doc = (REPO / "docs" / "packaging.md").read_text()
    blocks = re.findall(rf"^```{fence}\n(.*?)^```$", doc, re.S | re.M)
    assert blocks == [(EXAMPLES / example).read_text()]
