# SPDX-License-Identifier: GPL-2.0-only
"""Builds that scale out with existing engines: distcc (a distccd on
127.0.0.1, CC="distcc gcc") gives the bytes of a local build, and one
CACHEDIR shared by two clones at different paths serves the second from
the first's entries, in normal and in kernel mode. docs/packaging.md
quotes the commands run here (test_packaging_doc_holds_the_commands)."""

import os
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, copy_tree, require_tool, run_scons

pytestmark = pytest.mark.slow

OUTPUTS = ("purgatory.ro", "kexec-purgatory.c", "kexec-purgatory.S")
C_SOURCES = 3           # purgatory.c, sha256.c, string.c: what distcc compiles
DAEMON_START = 10       # seconds distccd gets to listen, and to stop

# The commands, as docs/packaging.md gives them ($PORT, $CACHE, $SRC, $OBJ
# are the test's).
# distccd logs to the stderr it is given (as root it runs as another user,
# which could not open a --log-file in the test's directory).
DISTCCD = ("distccd --daemon --no-detach --allow 127.0.0.1 --listen 127.0.0.1 "
           "--port $PORT --jobs 2 --nice 10 --log-stderr --log-level info")
DISTCC_BUILD = "DISTCC_HOSTS=127.0.0.1:$PORT DISTCC_FALLBACK=0 scons CC='distcc gcc'"
CACHED_BUILD = "scons CACHEDIR=$CACHE"
CACHED_KERNEL_BUILD = "scons KERNEL=$SRC KERNEL_O=$OBJ O=out CACHEDIR=$CACHE"
COMMANDS = (DISTCCD, DISTCC_BUILD, CACHED_BUILD, CACHED_KERNEL_BUILD)


def words(command, **values):
    """(environment assignments, scons arguments or argv) of a command."""
    for name, value in values.items():
        command = command.replace(f"${name}", str(value))
    argv = shlex.split(command)
    assignments = {}
    while "=" in argv[0]:
        name, _, value = argv.pop(0).partition("=")
        assignments[name] = value
    return assignments, argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def distccd(tmp_path):
    """A distccd on 127.0.0.1 at a private port, stopped at the end;
    yields (port, its log file)."""
    require_tool(os.path.exists("/usr/bin/distccd"),
                 "distccd not installed (Debian package distcc)")
    port, log = free_port(), tmp_path / "distccd.log"
    _, argv = words(DISTCCD, PORT=port)
    with open(log, "w") as stderr:
        daemon = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + DAEMON_START
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert daemon.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "distccd did not listen"
                time.sleep(0.1)
        yield port, log
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=DAEMON_START)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def test_distcc_build_through_a_local_distccd_is_byte_identical_to_a_local_build(
        distccd, built, tree, tmp_path):
    port, log = distccd
    assignments, args = words(DISTCC_BUILD, PORT=port)
    distcc_dir = tmp_path / "distcc"
    distcc_dir.mkdir()
    env = dict(os.environ, DISTCC_DIR=str(distcc_dir), **assignments)
    run_scons(tree, *args[1:], env=env)
    compiled = [line for line in log.read_text().splitlines() if "COMPILE_OK" in line]
    assert len(compiled) == C_SOURCES, log.read_text()
    for name in OUTPUTS:
        assert (tree / "build" / name).read_bytes() == \
            (built("pic") / name).read_bytes(), name


RETRIEVED = re.compile(r"Retrieved `(.*)' from cache")


def retrieved(result):
    """The names of the files SCons took from the cache."""
    return {Path(m.group(1)).name for m in map(RETRIEVED.fullmatch, result.stdout.splitlines())
            if m}


def test_cachedir_shared_by_two_clones_at_different_paths_serves_the_second(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    _, args = words(CACHED_BUILD, CACHE=cache)
    first = copy_tree(tmp_path / "a" / "clone")
    second = copy_tree(tmp_path / "b" / "elsewhere" / "clone")
    assert retrieved(run_scons(first, *args[1:])) == set()
    hits = retrieved(run_scons(second, *args[1:]))
    assert hits >= \
        {*OUTPUTS, "purgatory.o", "sha256.o", "string.o"}
    for name in OUTPUTS:
        assert (second / "build" / name).read_bytes() == \
            (first / "build" / name).read_bytes(), name


def test_cachedir_shared_by_two_clones_serves_the_second_in_kernel_mode(
        kernel_trees, tmp_path):
    src, obj = kernel_trees.prepared("amd64")
    cache = tmp_path / "cache"
    cache.mkdir()
    _, args = words(CACHED_KERNEL_BUILD, CACHE=cache, SRC=src, OBJ=obj)
    entries = ("SConstruct", "site_scons")
    first = copy_tree(tmp_path / "a" / "clone", entries)
    second = copy_tree(tmp_path / "b" / "elsewhere" / "clone", entries)
    assert retrieved(run_scons(first, *args[1:])) == set()
    hits = retrieved(run_scons(second, *args[1:]))
    built_dir = Path("out/arch/x86/purgatory")
    # Every step: Kbuild's compiles and links, then the tool's own.
    assert hits >= \
        {*OUTPUTS, "purgatory.o", "entry64.o", "purgatory.chk"}
    for name in OUTPUTS:
        assert (second / built_dir / name).read_bytes() == \
            (first / built_dir / name).read_bytes(), name


def test_packaging_doc_holds_the_commands():
    doc = (REPO / "docs" / "packaging.md").read_text()
    for command in COMMANDS:
        assert command in doc, command
