# SPDX-License-Identifier: GPL-2.0-only
"""Prepared Debian Linux trees for the kernel-mode tests, in a cache.

``prepared(name)`` returns a ``Tree``: Debian's kernel source extracted
once per version, and an output directory per tree that went through
``make O=OBJ olddefconfig prepare`` and ``make O=OBJ arch/ARCH/purgatory/``,
so it holds Kbuild's own purgatory.ro and .cmd files to compare with.  A
``Tree`` unpacks as (SRC, OBJ) and also says what the tree is: version,
Kbuild's ARCH, CROSS_COMPILE, CC and LD, the make variables given to every
make call on it, and ``kbuild_purgatory_dir``.  The names:

- ``amd64``, ``cloud-amd64``, ``cloud-amd64-tweaked`` (``FLAVOURS``): Linux
  6.1 from bookworm's ``linux-source-6.1`` and ``linux-config-6.1``, x86_64,
  the machine's ``gcc``; the tweaked one flips options that change the
  purgatory's commands (ftrace, IBT, -Os, stack initialisation, DWARF).
- ``6.12-cloud-amd64``, ``6.12-s390x``, ``6.12-ppc64el``, ``6.12-riscv64``
  (``TREES``): one bookworm-security ``linux-source-6.12`` (the ``~deb12u``
  build, which Debian makes with gcc-12) with Debian's configs for each
  architecture, built with gcc-12 and its cross compilers; KEXEC_FILE is
  turned on for ppc64el and riscv64, where Debian leaves it off.
- ``sid-amd64``: the newest ``linux-source-X.Y`` in Debian's unstable suite
  (7.x), Debian's amd64 config from the same upload, built with gcc-12.

``boot_source()`` is another extraction of linux-source-6.1 (``src-boot``
in the 6.1 directory) that keeps what a small kernel compiles, for
boot-test; ``boot_kernel_dir()`` is where that kernel is built and kept.

Downloads and extractions go to a temporary directory renamed when done,
and an output directory counts only once the stamp file written last is
there, so an interrupted run leaves nothing half-made behind.

Where: the 6.1 trees in ``$KEXEC_PURGATORY_KERNEL_CACHE`` if set, else in
``linux-6.1`` under the cache root; the others in ``linux-6.12`` and
``linux-sid`` under the cache root, which is
``$KEXEC_PURGATORY_KERNEL_CACHE_ROOT`` or ``~/.cache/kexec-purgatory``.
From an empty cache, measured on 2 cores one tree after the other: 6.1
about 50 s for its three trees (135 MB downloaded, 210 MB kept); 6.12 about
60 s for its four (175 MB downloaded with apt's lists, 230 MB kept: 20 s to
download and extract the source, 6 to 10 s a tree); sid about 30 s (180 MB
downloaded, 215 MB kept); all eight 2:20 and 660 MB.
Run this file (``python tests/linux_trees.py [NAME...]``) to fill the cache
ahead of the tests.  Kbuild's .cmd files in it hold the absolute path of
``src``: restore a cached copy at the same path, or delete it.  A cached
source stays what it was when it was downloaded (sid's too): delete its
directory to get the archive's newest.

The 6.1 packages come with plain ``apt-get download`` from the machine's own
sources.  The others come from suites the machine need not list
(bookworm-backports, trixie, sid) and from other architectures, through a
private apt configuration made in a temporary directory of the cache
(tests/debian_archive.py): its own sources list (on the mirrors the
machine's apt uses), lists and package cache, given to ``apt-get`` with
``-o Dir::Etc::SourceList=...`` etc.; nothing under /etc/apt is written.

Tests reach the trees only through conftest's ``kernel_trees`` fixture,
which marks them ``kernel``; ``prepared`` refuses to run in a test without
the mark.  It says (through ``REPORT``) where the cache is, once a run, and
each download, extraction and preparation it does.  Lock files in the cache
keep concurrent runs (pytest-xdist's workers are separate processes) from
preparing the same thing twice: the second waits for the first.

Needs: apt-get, make, gcc, bc, bison, flex, libelf-dev, libssl-dev,
xz-utils; for the 6.12 and sid trees also gcc-12, and the cross compilers
and binutils for s390x, ppc64el and riscv64 (``gcc-12-s390x-linux-gnu``,
``binutils-s390x-linux-gnu``, ...: ``NotPrepared`` names what is missing).
"""

import contextlib
import dataclasses
import fcntl
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import debian_archive
from kexec_purgatory.kernel.tarball import excludes as tarball_excludes

PACKAGES = ("linux-source-6.1", "linux-config-6.1")

# flavour -> (Debian config file in linux-config-6.1, scripts/config edits)
FLAVOURS = {
    "amd64": ("config.amd64_none_amd64.xz", ()),
    "cloud-amd64": ("config.amd64_none_cloud-amd64.xz", ()),
    # The Debian flavours differ little where the purgatory is concerned;
    # this one flips options that change the purgatory's commands.
    "cloud-amd64-tweaked": ("config.amd64_none_cloud-amd64.xz", (
        "--disable", "FUNCTION_TRACER", "--disable", "STACK_TRACER",
        "--enable", "X86_KERNEL_IBT",
        "--disable", "STACKPROTECTOR_STRONG",
        "--disable", "CC_OPTIMIZE_FOR_PERFORMANCE",
        "--enable", "CC_OPTIMIZE_FOR_SIZE",
        "--disable", "INIT_STACK_ALL_ZERO",
        "--enable", "INIT_STACK_ALL_PATTERN",
        "--disable", "SLS",
        "--set-val", "FRAME_WARN", "1024",
        "--disable", "DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT",
        "--enable", "DEBUG_INFO_DWARF5",
        "--enable", "DEBUG_INFO_COMPRESSED",
    )),
}


@dataclasses.dataclass(frozen=True)
class Source:
    """One Debian kernel source, extracted once in the cache subdirectory
    ``directory``, with the Debian configs its trees use.

    ``package`` is the source package in ``suite`` (the newest version whose
    number contains ``version_mark``), or None for the newest
    ``linux-source-X.Y`` there.  ``configs`` maps a Debian architecture to
    the suite its ``linux-config-X.Y`` comes from: from the source's own
    suite it must be the source's version; from another suite, the newest
    there.  ``arches``: the Kbuild architectures whose sources are kept."""
    directory: str
    suite: str
    package: str | None
    version_mark: str
    configs: dict
    arches: tuple

    @property
    def suites(self):
        """(suite, architecture) pairs of the private sources list."""
        pairs = {(self.suite, "amd64")}     # linux-source is Architecture: all
        pairs.update((suite, arch) for arch, suite in self.configs.items())
        return sorted(pairs)


SOURCES = {
    "6.12": Source(
        directory="linux-6.12", suite="bookworm-security",
        package="linux-source-6.12", version_mark="~deb12u",
        configs={
            "amd64": "bookworm-security",
            "ppc64el": "bookworm-security",
            # bookworm-security no longer carries s390x (Debian 12's LTS
            # architectures are amd64, arm64, armhf, i386 and ppc64el): the
            # s390x config comes from bookworm-backports' 6.12 (also built
            # with gcc-12), a few stable releases older than the source.
            "s390x": "bookworm-backports",
            # Debian 12 has no riscv64: the config comes from trixie's 6.12
            # (made for gcc-14; olddefconfig redoes it for gcc-12).
            "riscv64": "trixie",
        },
        arches=("x86", "s390", "powerpc", "riscv")),
    "sid": Source(
        directory="linux-sid", suite="sid", package=None, version_mark="",
        configs={"amd64": "sid"}, arches=("x86",)),
}


@dataclasses.dataclass(frozen=True)
class Spec:
    """How one tree is made: its source, the Debian architecture and config
    file, Kbuild's ARCH, the compilers, scripts/config edits, and whether
    its .config must end with CONFIG_KEXEC_FILE=y (preparing fails if not)."""
    source: str
    debian_arch: str
    config: str
    arch: str
    cross_compile: str
    cc: str
    edits: tuple = ()
    kexec_file: bool = True


# A local rustc would change CONFIG_RUSTC_VERSION during olddefconfig (and
# make syncconfig run again later): every make call on 6.12 and later gets
# RUSTC pointing at nothing.
NO_RUSTC = "/nonexistent"

TREES = {
    "6.12-cloud-amd64": Spec("6.12", "amd64", "config.amd64_none_cloud-amd64.xz",
                             "x86", "", "gcc-12"),
    # Debian leaves KEXEC_FILE off on s390x; 6.12's s390 builds its
    # purgatory whenever the architecture supports kexec_file anyway.
    "6.12-s390x": Spec("6.12", "s390x", "config.s390x_none_s390x.xz",
                       "s390", "s390x-linux-gnu-", "s390x-linux-gnu-gcc-12",
                       kexec_file=False),
    "6.12-ppc64el": Spec("6.12", "ppc64el", "config.ppc64el_none_powerpc64le.xz",
                         "powerpc", "powerpc64le-linux-gnu-",
                         "powerpc64le-linux-gnu-gcc-12",
                         edits=("--enable", "KEXEC_FILE")),
    "6.12-riscv64": Spec("6.12", "riscv64", "config.riscv64_none_riscv64.xz",
                         "riscv", "riscv64-linux-gnu-",
                         "riscv64-linux-gnu-gcc-12",
                         edits=("--enable", "KEXEC_FILE")),
    "sid-amd64": Spec("sid", "amd64", "config.amd64_none_amd64.xz",
                      "x86", "", "gcc-12"),
}


@dataclasses.dataclass(frozen=True)
class Tree:
    """A prepared tree: unpacks as (src, obj), and says how it was made.

    ``make_vars`` are the variables given on the command line of every make
    call on it (``make_args`` spells them ``VAR=value``); empty for the 6.1
    trees, which use make's defaults (ARCH x86, the machine's gcc and ld).
    ``debian`` names the Debian packages and config file it came from."""
    name: str
    version: str
    arch: str
    cross_compile: str
    cc: str
    ld: str
    make_vars: dict
    src: Path
    obj: Path
    debian: tuple = ()

    @property
    def kbuild_purgatory_dir(self):
        """OBJ/arch/ARCH/purgatory: Kbuild's purgatory.ro and .cmd files."""
        return self.obj / "arch" / self.arch / "purgatory"

    @property
    def make_args(self):
        return [f"{var}={value}" for var, value in self.make_vars.items()]

    def __iter__(self):
        return iter((self.src, self.obj))


NAMES = (*FLAVOURS, *TREES)

BUILD_TOOLS = {"make": "make", "gcc": "gcc", "bc": "bc", "bison": "bison",
               "flex": "flex", "xz": "xz-utils", "apt-get": "apt"}


class NotPrepared(Exception):
    """A step of preparing the cache failed; the message says which."""


# Where messages go: conftest points this at the terminal; run as a script,
# they go to stderr.
REPORT = None

# Set by conftest before each test's setup: whether the test is marked
# ``kernel``.  None outside pytest.
IN_KERNEL_TEST = None

_announced = False


def _say(text):
    line = f"kernel trees: {text}"
    if REPORT is not None:
        REPORT(line)
    else:
        print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def locked(path):
    """Hold an exclusive lock on ``path`` (created if need be); the kernel
    drops it when the process ends, however it ends."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ready(obj):
    return (obj / STAMP).exists()


def _announce():
    """Say once a run where the trees are and which are there yet.
    pytest-xdist's workers share a run id: the first one to get here says
    it for all of them."""
    global _announced
    if _announced:
        return
    _announced = True
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run:
        with locked(root / ".lock-announce"):
            said = root / ".announced"
            if said.exists() and said.read_text() == run:
                return
            said.write_text(run)
    old = cache_dir()
    ready = [f for f in FLAVOURS if (old / "src").exists()
             and _ready(old / f"obj-{f}")]
    ready += [n for n in TREES if _ready(_obj_dir(n))]
    missing = [n for n in NAMES if n not in ready]
    where = ("from $KEXEC_PURGATORY_KERNEL_CACHE_ROOT"
             if "KEXEC_PURGATORY_KERNEL_CACHE_ROOT" in os.environ else
             "the default; $KEXEC_PURGATORY_KERNEL_CACHE_ROOT moves it")
    where_6_1 = ("$KEXEC_PURGATORY_KERNEL_CACHE"
                 if "KEXEC_PURGATORY_KERNEL_CACHE" in os.environ else
                 "the 6.1 trees")
    state = (f"prepared already: {', '.join(ready) or 'none'}"
             + (f"; not yet, prepared when first used: {', '.join(missing)}"
                " (all eight from nothing: about 490 MB downloaded, 660 MB"
                " kept, 2 to 3 minutes on 2 cores)" if missing else ""))
    _say(f"Debian kernel trees in {root} ({where}; {where_6_1} in {old}), "
         f"{state}")


def cache_root():
    default = Path.home() / ".cache/kexec-purgatory"
    return Path(os.environ.get("KEXEC_PURGATORY_KERNEL_CACHE_ROOT", default))


def cache_dir():
    """Where the 6.1 trees are."""
    return Path(os.environ.get("KEXEC_PURGATORY_KERNEL_CACHE",
                               cache_root() / "linux-6.1"))


def _run(argv, cwd=None):
    return debian_archive.run(argv, cwd, error=NotPrepared)


def _step(final, make, what):
    """Run ``make(tmp)`` into a fresh directory and rename it to ``final``;
    say ``what`` first."""
    if final.exists():
        return final
    _say(f"{what} into {final}")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        make(tmp)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


STAMP = ".kexec-purgatory-prepared"


def _step_in_place(final, make, what):
    """Like _step, for a Kbuild output directory: Kbuild records its own path
    in some generated files, so it is made where it stays, and a stamp file
    written last marks it complete."""
    stamp = final / STAMP
    if stamp.exists():
        return final
    _say(f"{what} in {final}")
    shutil.rmtree(final, ignore_errors=True)
    final.mkdir(parents=True)
    make(final)
    stamp.write_text("done\n")
    return final


def _missing_tools(spec=None):
    tools = dict(BUILD_TOOLS)
    if spec is not None:
        tools["dpkg-deb"] = "dpkg"
        tools[spec.cc] = ("gcc-12" if not spec.cross_compile else
                          f"gcc-12-{spec.cross_compile[:-1]}")
        if spec.cross_compile:
            tools[f"{spec.cross_compile}ld"] = \
                f"binutils-{spec.cross_compile[:-1]}"
    return sorted({pkg for tool, pkg in tools.items()
                   if not shutil.which(tool)})


def _download(tmp):
    _run(["apt-get", "download", *PACKAGES], cwd=tmp)


# What the purgatory and `make olddefconfig prepare` never read: sources of
# drivers, file systems, networking, sound and other architectures, tools'
# tests and perf, and the documentation (but Documentation/Kconfig, which
# lib/Kconfig.debug sources).  Kconfig files and Makefiles everywhere stay.
# This keeps the tree at about 160 MB instead of 1.5 GB.
SOURCE_EXCLUDES = (
    "*/Documentation/[!K]*", "*/drivers/*.[ch]", "*/sound/*.[ch]",
    "*/net/*.[ch]", "*/fs/*.[ch]", "*/arch/[!x]*/*.[chS]",
    "*/arch/[!x]*/boot/dts", "*/tools/testing", "*/tools/perf",
)


def _extract_source(debs):
    def make(tmp):
        deb = next(debs.glob("linux-source-6.1_*.deb"))
        _run(["dpkg-deb", "-x", deb, tmp / "deb"])
        tarball = next((tmp / "deb/usr/src").glob("linux-source-6.1.tar.*"))
        excludes = [f"--exclude={pattern}" for pattern in SOURCE_EXCLUDES]
        _run(["tar", "-x", "-C", tmp, "--strip-components=1", *excludes,
              "-f", tarball])
        shutil.rmtree(tmp / "deb")
    return make


def _extract_configs(debs):
    def make(tmp):
        deb = next(debs.glob("linux-config-6.1_*.deb"))
        _run(["dpkg-deb", "-x", deb, tmp])
    return make


def _prepare(src, configs, flavour):
    config_name, edits = FLAVOURS[flavour]

    def make(tmp):
        packed = configs / "usr/src/linux-config-6.1" / config_name
        (tmp / ".config").write_bytes(_run_bytes(["xz", "-dc", packed]))
        if edits:
            _run([src / "scripts/config", "--file", tmp / ".config", *edits])
        _kbuild_purgatory(src, tmp)
    return make


def _kbuild_purgatory(src, output=None, make_args=(), arch="x86"):
    """Configure, prepare and build Kbuild's purgatory (in ``output``, or
    in the tree); -j2: the machines running this are small and shared."""
    where = [f"O={output}"] if output else []
    for goal in ("olddefconfig", "prepare", f"arch/{arch}/purgatory/"):
        _run(["make", "-s", "-j2", "-C", src, *where, *make_args, goal])


def _run_bytes(argv):
    return subprocess.run(argv, check=True, capture_output=True).stdout


# -- The 6.12 and sid trees: Debian's archive through a private apt setup --

def _series(package):
    """'linux-source-6.12' -> (6, 12)."""
    return tuple(map(int, package.rsplit("-", 1)[1].split(".")))


def _download_source(source):
    """Download the source package and its configs; write PACKAGES, one
    ``name:arch=version suite`` a line."""
    def wanted_packages(apt):
        package = source.package
        if package is None:
            named = [n for n in apt.names("linux-source-")
                     if re.fullmatch(r"linux-source-\d+\.\d+", n)
                     and apt.candidates(n, source.suite)]
            if not named:
                raise NotPrepared(f"no linux-source-X.Y in {source.suite}")
            package = max(named, key=_series)
        versions = [v for v in apt.candidates(package, source.suite)
                    if source.version_mark in v]
        if not versions:
            raise NotPrepared(f"no {package} with '{source.version_mark}' in "
                              f"its version in {source.suite}")
        version = versions[0]
        wanted = [(package, "all", version, source.suite)]
        config = package.replace("linux-source-", "linux-config-")
        for arch, suite in sorted(source.configs.items()):
            found = apt.candidates(f"{config}:{arch}", suite)
            if suite == source.suite:
                found = [v for v in found if v == version]
            if not found:
                raise NotPrepared(
                    f"no {config}:{arch} in {suite}"
                    + (f" at {version}" if suite == source.suite else ""))
            wanted.append((config, arch, found[0], suite))
        return wanted

    def make(tmp):
        try:
            apt = debian_archive.PrivateApt(tmp / ".apt", source.suites)
            wanted = wanted_packages(apt)
            apt.download([f"{name}={v}" if arch == "all" else
                          f"{name}:{arch}={v}"
                          for name, arch, v, _ in wanted], cwd=tmp)
        except debian_archive.AptFailed as e:
            raise NotPrepared(str(e)) from None
        shutil.rmtree(tmp / ".apt")
        (tmp / "PACKAGES").write_text("".join(
            f"{name}:{arch}={v} {suite}\n" for name, arch, v, suite in wanted))
    return make


def _extract_new_source(debs, source):
    def make(tmp):
        deb = next(debs.glob("linux-source-*_all.deb"))
        _run(["dpkg-deb", "-x", deb, tmp / "deb"])
        tarball = next((tmp / "deb/usr/src").glob("linux-source-*.tar.*"))
        top = tarball.name.split(".tar.")[0]
        _run(["tar", "-x", "-C", tmp, "--strip-components=1",
              *tarball_excludes(top, source.arches), "-f", tarball])
        shutil.rmtree(tmp / "deb")
    return make


def _extract_new_configs(debs):
    """configs/ARCH/config.*.xz per Debian architecture, and PACKAGES."""
    def make(tmp):
        for deb in debs.glob("linux-config-*.deb"):
            arch = deb.name.rsplit("_", 1)[1][:-len(".deb")]
            _run(["dpkg-deb", "-x", deb, tmp / "deb"])
            (tmp / arch).mkdir()
            for packed in (tmp / "deb/usr/src").glob("linux-config-*/*.xz"):
                os.replace(packed, tmp / arch / packed.name)
            shutil.rmtree(tmp / "deb")
        shutil.copy(debs / "PACKAGES", tmp / "PACKAGES")
    return make


def _source_dir(name):
    return cache_root() / SOURCES[TREES[name].source].directory


def _obj_dir(name):
    return _source_dir(name) / f"obj-{name}"


def _make_vars(spec):
    make_vars = {"ARCH": spec.arch}
    if spec.cross_compile:
        make_vars["CROSS_COMPILE"] = spec.cross_compile
    make_vars["CC"] = spec.cc
    make_vars["RUSTC"] = NO_RUSTC
    return make_vars


def _prepare_new(name, src, configs):
    spec = TREES[name]
    make_vars = _make_vars(spec)

    def make(tmp):
        packed = configs / spec.debian_arch / spec.config
        if not packed.exists():
            there = sorted(p.name for p in packed.parent.glob("config.*"))
            raise NotPrepared(f"no Debian config {packed.name} in "
                              f"{packed.parent}; there: {', '.join(there)}")
        (tmp / ".config").write_bytes(_run_bytes(["xz", "-dc", packed]))
        if spec.edits:
            _run([src / "scripts/config", "--file", tmp / ".config",
                  *spec.edits])
        args = [f"{var}={value}" for var, value in make_vars.items()]
        _kbuild_purgatory(src, tmp, args, spec.arch)
        if (spec.kexec_file and "CONFIG_KEXEC_FILE=y"
                not in (tmp / ".config").read_text().splitlines()):
            raise NotPrepared(f"{tmp}/.config: KEXEC_FILE is not on after "
                              f"make {' '.join(args)} olddefconfig")
        built = tmp / "arch" / spec.arch / "purgatory/purgatory.ro"
        if not built.exists():
            raise NotPrepared(f"make O={tmp} {' '.join(args)} "
                              f"arch/{spec.arch}/purgatory/ built no {built}")
    return make


def kernel_version(src):
    """'6.12.117' from SRC/Makefile."""
    values = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)"
                             r" = *(\S*)", (Path(src) / "Makefile").read_text(),
                             re.M))
    return (f"{values['VERSION']}.{values['PATCHLEVEL']}."
            f"{values['SUBLEVEL']}{values.get('EXTRAVERSION', '')}")


def _prepared_new(name):
    spec = TREES[name]
    missing = _missing_tools(spec)
    if missing:
        raise NotPrepared("missing build tools: apt-get install "
                          + " ".join(missing + ["libelf-dev", "libssl-dev"]))
    source = SOURCES[spec.source]
    root = _source_dir(name)
    root.mkdir(parents=True, exist_ok=True)
    _announce()
    src, configs = root / "src", root / "configs"
    with locked(root / ".lock-src"):
        if not (src.exists() and configs.exists()):
            debs = _step(root / "debs", _download_source(source),
                         f"apt-get download the {spec.source} source and its "
                         "Debian configs (about 175 MB with apt's lists)")
            _step(src, _extract_new_source(debs, source),
                  f"extracting {spec.source}'s source (what prepare and the "
                  "purgatory read, about 200 MB)")
            _step(configs, _extract_new_configs(debs),
                  f"extracting {spec.source}'s Debian configs")
            shutil.rmtree(debs)     # the cache does not need the packages
    with locked(root / f".lock-obj-{name}"):
        obj = _step_in_place(
            _obj_dir(name), _prepare_new(name, src, configs),
            f"configuring {name} and running make olddefconfig prepare "
            f"arch/{spec.arch}/purgatory/")
    packages = (configs / "PACKAGES").read_text().splitlines()
    config = next(p for p in packages if f":{spec.debian_arch}=" in p
                  and "linux-config-" in p)
    return Tree(name=name, version=kernel_version(src), arch=spec.arch,
                cross_compile=spec.cross_compile, cc=spec.cc,
                ld=f"{spec.cross_compile}ld", make_vars=_make_vars(spec),
                src=src, obj=obj,
                debian=(packages[0], f"{config} {spec.config}"))


# -- Public -------------------------------------------------------------------

def recorded_command(obj, target):
    """The command Kbuild's .cmd file in OBJ records for ``target`` (a path
    relative to OBJ), as the shell runs it: ``cmd_T :=`` (6.1) or
    ``savedcmd_T :=`` (6.12), make escapes undone."""
    from kexec_purgatory.kernel.kbuild import unescape
    directory, name = os.path.split(target)
    text = (Path(obj) / directory / f".{name}.cmd").read_text()
    for line in text.splitlines():
        if line.startswith(("cmd_", "savedcmd_")) and " := " in line:
            return unescape(line.split(" := ", 1)[1])
    raise ValueError(f"{obj}/{directory}/.{name}.cmd: no command line")


def kbuild_command(obj, target, arch="x86"):
    """The command Kbuild ran for ``target`` of arch/ARCH/purgatory, from its
    .cmd file in OBJ, as argv without the dependency-file option."""
    cmd_file = Path(obj) / f"arch/{arch}/purgatory" / f".{target}.cmd"
    first = cmd_file.read_text().splitlines()[0]
    for key in ("cmd", "savedcmd"):     # 6.1 says cmd_, 6.12 savedcmd_
        prefix = f"{key}_arch/{arch}/purgatory/{target} := "
        if first.startswith(prefix):
            return [w for w in shlex.split(first[len(prefix):])
                    if not w.startswith("-Wp,-MMD,")]
    raise ValueError(f"{cmd_file}: unexpected first line {first!r}")


def prepared_in_tree(flavour, where):
    """(SRC, SRC): a copy of the cached source tree at ``where``, configured
    as ``flavour`` and prepared in the tree itself, as kernel developers
    often build, with Kbuild's purgatory built there too."""
    tree = prepared(flavour)
    copy = Path(where)
    _run(["cp", "-a", tree.src, copy])
    shutil.copy(tree.obj / ".config", copy / ".config")
    _kbuild_purgatory(copy, make_args=tree.make_args, arch=tree.arch)
    return copy, copy


def _only_in_kernel_tests(function):
    if IN_KERNEL_TEST is False:
        raise RuntimeError(f"linux_trees.{function}() called from a test not "
                           "marked 'kernel': use the kernel_trees fixture")


def _require_build_tools():
    missing = _missing_tools()
    if missing:
        raise NotPrepared("missing build tools: apt-get install "
                          + " ".join(missing + ["libelf-dev", "libssl-dev"]))


def prepared(name):
    """The prepared tree ``name`` (one of NAMES): a ``Tree``, which unpacks
    as (SRC, OBJ); raises NotPrepared."""
    _only_in_kernel_tests("prepared")
    if name in TREES:
        return _prepared_new(name)
    if name not in FLAVOURS:
        raise KeyError(f"no kernel tree {name!r}; there are {', '.join(NAMES)}")
    _require_build_tools()
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    _announce()
    src, configs = root / "src", root / "configs"
    with locked(root / ".lock-src"):
        if not (src.exists() and configs.exists()):
            debs = _step(root / "debs", _download,
                         f"apt-get download {' '.join(PACKAGES)} (about 135 MB)")
            _step(src, _extract_source(debs),
                  "extracting linux-source-6.1 (what prepare and the "
                  "purgatory read, about 160 MB)")
            _step(configs, _extract_configs(debs),
                  "extracting linux-config-6.1")
            shutil.rmtree(debs)     # 135 MB the cache does not need to keep
    with locked(root / f".lock-obj-{name}"):
        obj = _step_in_place(
            root / f"obj-{name}", _prepare(src, configs, name),
            f"configuring {name} and running make olddefconfig prepare "
            "arch/x86/purgatory/")
    return Tree(name=name, version=kernel_version(src), arch="x86",
                cross_compile="", cc="gcc", ld="ld", make_vars={},
                src=src, obj=obj,
                debian=(f"{' and '.join(PACKAGES)}", FLAVOURS[name][0]))


# boot-test's small kernel (site_scons/kexec_purgatory/boottest/
# small_kernel.py) compiles drivers, file systems and include/net, which
# the trimmed source above leaves out: a second extraction keeps them and
# drops only what a tinyconfig x86 kernel never builds (about 460 MB; 10 s).
BOOT_SOURCE_EXCLUDES = (
    "*/Documentation/[!K]*", "*/arch/[!x]*/*.[chS]", "*/arch/[!x]*/boot/dts",
    "*/tools/testing", "*/tools/perf", "*/sound/*.[ch]", "*/net/*.c",
    "*/drivers/gpu/*.[ch]", "*/drivers/net/*.[ch]",
    "*/drivers/staging/*.[ch]", "*/drivers/media/*.[ch]",
    "*/drivers/infiniband/*.[ch]",
)


def _extract_boot_source(tmp):
    _run(["apt-get", "download", "linux-source-6.1"], cwd=tmp)
    deb = next(tmp.glob("linux-source-6.1_*.deb"))
    _run(["dpkg-deb", "-x", deb, tmp / "deb"])
    tarball = next((tmp / "deb/usr/src").glob("linux-source-6.1.tar.*"))
    _run(["tar", "-x", "-C", tmp, "--strip-components=1",
          *(f"--exclude={pattern}" for pattern in BOOT_SOURCE_EXCLUDES),
          "-f", tarball])
    shutil.rmtree(tmp / "deb")
    deb.unlink()


def boot_source():
    """SRC of boot-test's small kernel: linux-source-6.1 in the 6.1 cache
    directory as ``src-boot``, extracted once (see BOOT_SOURCE_EXCLUDES)."""
    _only_in_kernel_tests("boot_source")
    _require_build_tools()
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / ".lock-src-boot"):
        return _step(root / "src-boot", _extract_boot_source,
                     "apt-get download linux-source-6.1 (about 140 MB) and "
                     "extracting it for boot-test's small kernel (about "
                     "460 MB)")


def boot_kernel_dir():
    """Where boot-test's small kernel is built and kept between runs."""
    return cache_root() / "boot-kernel-6.1"


if __name__ == "__main__":
    for tree_name in sys.argv[1:] or NAMES:
        print(*prepared(tree_name))
