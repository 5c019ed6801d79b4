# SPDX-License-Identifier: GPL-2.0-only
"""Prepared Debian Linux 6.1 trees for the kernel-mode tests, in a cache.

``prepared(flavour)`` returns (SRC, OBJ): Debian's ``linux-source-6.1``
extracted once, and an output directory per configuration flavour that went
through ``make O=OBJ olddefconfig prepare`` and ``make O=OBJ
arch/x86/purgatory/``, so it holds Kbuild's own purgatory.ro and .cmd files
to compare with.  Downloads and extractions go to a temporary directory
renamed when done, and an output directory counts only once the stamp file
written last is there, so an interrupted run leaves nothing half-made behind.

The cache is ``$KEXEC_PURGATORY_KERNEL_CACHE`` or
``~/.cache/kexec-purgatory/linux-6.1`` (about 210 MB; filling it takes about
a minute).  Run this file to fill it ahead of the tests.  Kbuild's .cmd files
in it hold the absolute path of ``src``: restore a cached copy at the same
path, or delete it.

Tests reach the trees only through conftest's ``kernel_trees`` fixture,
which marks them ``kernel``; ``prepared`` refuses to run in a test without
the mark.  It says (through ``REPORT``) where the cache is, once a run, and
each download, extraction and preparation it does.  Lock files in the cache
keep concurrent runs (pytest-xdist's workers are separate processes) from
preparing the same thing twice: the second waits for the first.

Needs: apt-get (Debian 12 sources), make, gcc, bc, bison, flex, libelf-dev,
libssl-dev, xz-utils.
"""

import contextlib
import fcntl
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGES = ("linux-source-6.1", "linux-config-6.1")

# flavour -> (Debian config file in linux-config-6.1, scripts/config edits)
FLAVOURS = {
    "amd64": ("config.amd64_none_amd64.xz", ()),
    "cloud-amd64": ("config.amd64_none_cloud-amd64.xz", ()),
    # The Debian flavours differ little where the purgatory is concerned;
    # this one flips the options the flag table gates, to test the gates.
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
def _locked(path):
    """Hold an exclusive lock on ``path`` (created if need be); the kernel
    drops it when the process ends, however it ends."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _announce(root):
    """Say once a run where the trees are and whether they are there yet.
    pytest-xdist's workers share a run id: the first one to get here says
    it for all of them."""
    global _announced
    if _announced:
        return
    _announced = True
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run:
        with _locked(root / ".lock-announce"):
            said = root / ".announced"
            if said.exists() and said.read_text() == run:
                return
            said.write_text(run)
    ready = sorted(p.name for p in root.glob("obj-*")
                   if (p / STAMP).exists())
    state = (f"prepared already: src, configs, {', '.join(ready)}"
             if ready and (root / "src").exists() else
             "not all there yet: what is missing is downloaded and prepared now"
             " (about 135 MB downloaded, 210 MB kept, about a minute)")
    where = ("from $KEXEC_PURGATORY_KERNEL_CACHE"
             if "KEXEC_PURGATORY_KERNEL_CACHE" in os.environ else
             "the default; $KEXEC_PURGATORY_KERNEL_CACHE moves it")
    _say(f"Debian {' and '.join(PACKAGES)} in {root} ({where}), {state}")


def cache_dir():
    default = Path.home() / ".cache/kexec-purgatory/linux-6.1"
    return Path(os.environ.get("KEXEC_PURGATORY_KERNEL_CACHE", default))


def _run(argv, cwd=None):
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                            env=dict(os.environ, LC_ALL="C"))
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise NotPrepared(f"{' '.join(map(str, argv))} failed "
                          f"({result.returncode}):\n" + "\n".join(tail))
    return result.stdout


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


def _missing_tools():
    return sorted({pkg for tool, pkg in BUILD_TOOLS.items()
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


def _kbuild_purgatory(src, output=None):
    """Configure, prepare and build Kbuild's purgatory (in ``output``, or
    in the tree); -j2: the machines running this are small and shared."""
    where = [f"O={output}"] if output else []
    for goal in ("olddefconfig", "prepare", "arch/x86/purgatory/"):
        _run(["make", "-s", "-j2", "-C", src, *where, goal])


def _run_bytes(argv):
    return subprocess.run(argv, check=True, capture_output=True).stdout


def kbuild_command(obj, target):
    """The command Kbuild ran for ``target`` of arch/x86/purgatory, from its
    .cmd file in OBJ, as argv without the dependency-file option."""
    cmd_file = Path(obj) / "arch/x86/purgatory" / f".{target}.cmd"
    first = cmd_file.read_text().splitlines()[0]
    prefix = f"cmd_arch/x86/purgatory/{target} := "
    if not first.startswith(prefix):
        raise ValueError(f"{cmd_file}: unexpected first line {first!r}")
    return [w for w in shlex.split(first[len(prefix):])
            if not w.startswith("-Wp,-MMD,")]


def prepared_in_tree(flavour, where):
    """(SRC, SRC): a copy of the cached source tree at ``where``, configured
    with ``flavour`` and prepared in the tree itself, as kernel developers
    often build, with Kbuild's purgatory built there too."""
    src, obj = prepared(flavour)
    tree = Path(where)
    _run(["cp", "-a", src, tree])
    shutil.copy(obj / ".config", tree / ".config")
    _kbuild_purgatory(tree)
    return tree, tree


def prepared(flavour):
    """(SRC, OBJ) of a prepared tree of ``flavour``; raises NotPrepared."""
    if IN_KERNEL_TEST is False:
        raise RuntimeError("linux_trees.prepared() called from a test not "
                           "marked 'kernel': use the kernel_trees fixture")
    missing = _missing_tools()
    if missing:
        raise NotPrepared("missing build tools: apt-get install "
                          + " ".join(missing + ["libelf-dev", "libssl-dev"]))
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    _announce(root)
    src, configs = root / "src", root / "configs"
    with _locked(root / ".lock-src"):
        if not (src.exists() and configs.exists()):
            debs = _step(root / "debs", _download,
                         f"apt-get download {' '.join(PACKAGES)} (about 135 MB)")
            _step(src, _extract_source(debs),
                  "extracting linux-source-6.1 (what prepare and the "
                  "purgatory read, about 160 MB)")
            _step(configs, _extract_configs(debs),
                  "extracting linux-config-6.1")
            shutil.rmtree(debs)     # 135 MB the cache does not need to keep
    with _locked(root / f".lock-obj-{flavour}"):
        obj = _step_in_place(
            root / f"obj-{flavour}", _prepare(src, configs, flavour),
            f"configuring {flavour} and running make olddefconfig prepare "
            "arch/x86/purgatory/")
    return src, obj


if __name__ == "__main__":
    for name in sys.argv[1:] or FLAVOURS:
        print(*prepared(name))
