# SPDX-License-Identifier: GPL-2.0-only
"""Shared fixtures: temporary copies of the tree and real scons runs in them."""

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "site_scons"))

import linux_trees  # noqa: E402  (tests/ is on sys.path, as for the tests)

# What a build needs from the tree; everything else stays behind.
TREE_ENTRIES = ("SConstruct", "SConscript", "site_scons", "purgatory", "arch")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".sconsign*")

CODE_MODELS = ("pic", "large")


def copy_tree(dest, entries=TREE_ENTRIES):
    """A fresh copy of the buildable tree (or of ``entries``) at ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in entries:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORED)
        else:
            shutil.copy2(src, dest / name)
    return dest


def run_scons(tree, *args, check=True, env=None, cwd=None):
    """Run a real scons in ``tree``; returns the CompletedProcess (text)."""
    command = [sys.executable, "-m", "SCons", "-Q", *args]
    result = subprocess.run(command, cwd=cwd or tree, capture_output=True,
                            text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"scons {' '.join(args)} failed "
                             f"({result.returncode}):\n{result.stdout}"
                             f"\n{result.stderr}")
    return result


def kexec_purgatory_cli(*args):
    """Run the ``kexec-purgatory`` command (from this tree's package)."""
    return subprocess.run([sys.executable, "-m", "kexec_purgatory", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO / "site_scons")


def tree_listing(root):
    """Every file under ``root`` with its size and mtime, for 'untouched' checks."""
    root = Path(root)
    stats = {str(p.relative_to(root)): p.lstat() for p in root.rglob("*")}
    return {name: (st.st_size, st.st_mtime_ns)
            for name, st in sorted(stats.items())}


# -- Markers ----------------------------------------------------------------

# Fixtures that give the downloaded Debian kernel trees: a test using any of
# them, directly or through another fixture, is marked ``kernel``.
KERNEL_FIXTURES = frozenset({"kernel_trees", "kernel_images"})


@pytest.hookimpl(tryfirst=True)     # before -m deselects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        if KERNEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kernel)
    # The long tests first (a stable sort: the order is otherwise the
    # files'), so that pytest-xdist's workers finish together instead of
    # one running the last minutes' long tests alone.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # linux_trees.prepared() refuses to run in a test without the mark, so
    # a test that reaches the trees some other way fails instead of hiding
    # from `-m "not kernel"`.
    linux_trees.IN_KERNEL_TEST = item.get_closest_marker("kernel") is not None


def _to_terminal(config):
    """A function writing a line to the terminal, past pytest's capture;
    under pytest-xdist, from a worker, to the stderr it shares with the
    controller."""
    capture = config.pluginmanager.getplugin("capturemanager")
    terminal = config.pluginmanager.getplugin("terminalreporter")
    worker = os.environ.get("PYTEST_XDIST_WORKER")

    def write(line):
        with (capture.global_and_fixture_disabled() if capture
              else contextlib.nullcontext()):
            if terminal is not None and not worker:
                terminal.write_line(line)
            else:
                sys.stderr.write(f"\n[{worker}] {line}\n" if worker
                                 else f"{line}\n")
                sys.stderr.flush()
    return write


@pytest.fixture(scope="session")
def kernel_trees(request):
    """tests/linux_trees.py, whose prepared(name) and
    prepared_in_tree(name, where) give Debian trees (6.1, 6.12 for four
    architectures, unstable's 7.x) from the cache, downloading and preparing
    what is missing; it says where, once."""
    linux_trees.REPORT = _to_terminal(request.config)
    return linux_trees


@pytest.fixture(scope="session")
def kernel_images(request):
    """tests/debian_images.py, whose image(arch, flavour, version) gives the
    vmlinuz of a Debian linux-image package from the cache, downloading it
    if missing; source(version, arch) the linux-source tarball and configs
    of one version; verify_work(name) a kept work directory."""
    import debian_images
    linux_trees.REPORT = _to_terminal(request.config)
    return debian_images


# -- Trees and builds -------------------------------------------------------

@pytest.fixture
def tree(tmp_path):
    """A fresh, unbuilt copy of the tree."""
    return copy_tree(tmp_path / "tree")


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Build once per code model; returns {model: output directory Path}."""
    outputs = {}

    def get(model):
        if model not in outputs:
            root = copy_tree(tmp_path_factory.mktemp(f"built-{model}"))
            run_scons(root, f"CODE_MODEL={model}")
            outputs[model] = root / "build"
        return outputs[model]
    return get


@pytest.fixture(params=CODE_MODELS)
def purgatory_ro(request, built):
    """The project's purgatory.ro, built with each code model in turn."""
    return built(request.param) / "purgatory.ro"


def host_gcc():
    """The host C compiler the tests compile helper programs with."""
    return os.environ.get("HOST_CC", "gcc")


def embedded_bytes(c_array, workdir):
    """Compile ``c_array`` (kexec-purgatory.c) with the host gcc and a main
    that writes the array out; returns (bytes, kexec_purgatory_size, the
    array's address modulo 8)."""
    workdir = Path(workdir)
    main = workdir / "dump.c"
    main.write_text(
        "#include <stdint.h>\n#include <stdio.h>\n"
        "extern const unsigned char kexec_purgatory[];\n"
        "extern const size_t kexec_purgatory_size;\n"
        "int main(int argc, char **argv)\n{\n"
        "\tFILE *f = fopen(argv[1], \"wb\");\n"
        "\tfwrite(kexec_purgatory, 1, kexec_purgatory_size, f);\n"
        "\tprintf(\"%zu %u\\n\", kexec_purgatory_size,\n"
        "\t       (unsigned)((uintptr_t)kexec_purgatory % 8));\n"
        "\treturn fclose(f) != 0;\n}\n")
    exe = workdir / "dump"
    subprocess.run([host_gcc(), "-Wall", "-Werror", "-o", exe, main, c_array],
                   check=True)
    result = subprocess.run([exe, workdir / "blob"], check=True,
                            capture_output=True, text=True)
    size, misalignment = map(int, result.stdout.split())
    return (workdir / "blob").read_bytes(), size, misalignment


def assemble(source, include_dir, obj):
    """Assemble ``source`` (e.g. kexec-purgatory.S) with the host gcc and
    ``-I include_dir``; returns the object read with pyelftools."""
    from kexec_purgatory.elf.reader import open_elf
    subprocess.run([host_gcc(), "-c", "-I", include_dir, "-o", obj, source],
                   check=True, capture_output=True, text=True)
    return open_elf(str(obj))


def symbol(elf, name):
    """The one symbol called ``name`` in ``elf``."""
    (sym,) = elf.get_section_by_name(".symtab").get_symbol_by_name(name)
    return sym


def incbin_bytes(incbin_file, include_dir, workdir):
    """(the bytes kexec_purgatory covers, the value of kexec_purgatory_size)
    once ``incbin_file`` is assembled."""
    elf = assemble(incbin_file, include_dir, Path(workdir) / "incbin.o")
    array, size = symbol(elf, "kexec_purgatory"), symbol(elf, "kexec_purgatory_size")
    rodata = elf.get_section(array["st_shndx"]).data()
    start = array["st_value"]
    count = elf.get_section(size["st_shndx"]).data()[
        size["st_value"]:size["st_value"] + 8]
    return (rodata[start:start + array["st_size"]],
            int.from_bytes(count, "little"))


def require_tool(available, reason):
    """Skip a test whose system tool is missing, naming the Debian package;
    in CI (CI=true), where .ci/run installs every such tool, fail instead:
    a skip there would hide a broken install step."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, though .ci/run installs it")
    pytest.skip(reason)
