# SPDX-License-Identifier: GPL-2.0-only
"""The checker never raises on damaged input: it exits 0, 1 or 2 with a message.

Thousands of truncated and byte-mutated copies of the project's purgatory.ro
(and of a minimal riscv64 one and a ppc64le one) go through the real command
(in-process, for speed). Mutations are aimed at the
ELF header, the section header table and the symbol and relocation tables
as well as anywhere in the file, since that is where parsers break.
"""

import contextlib
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ppc64le_objects
import riscv_objects
from kexec_purgatory import cli
from elftools.elf.elffile import ELFFile

SETTINGS = settings(max_examples=2000, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def seed(path, workdir):
    """(where the damaged copies go, the good bytes, the byte ranges of the
    tables parsers trip over)."""
    data = path.read_bytes()
    with open(path, "rb") as f:
        elf = ELFFile(f)
        tables = [(s["sh_offset"], s["sh_size"]) for s in elf.iter_sections()
                  if s["sh_type"] in ("SHT_SYMTAB", "SHT_RELA", "SHT_STRTAB")]
        tables.append((elf.header["e_shoff"],
                       elf.header["e_shnum"] * elf.header["e_shentsize"]))
    return workdir / "damaged.ro", data, tables


@pytest.fixture(scope="module", params=["x86_64", "riscv64", "ppc64le"])
def good(tmp_path_factory, request):
    """The project's purgatory.ro, riscv64's minimal purgatory (an
    auipc/addi pair, the four ABI symbols) and a ppc64le one with a
    relocation (a RELA table to damage), from the cross toolchains."""
    workdir = tmp_path_factory.mktemp("robustness")
    if request.param == "riscv64":
        path = riscv_objects.minimal(workdir)
    elif request.param == "ppc64le":
        path = ppc64le_objects.trampoline(workdir, name="ppc64le",
                                          extra="\tbl\tkernel\n")
    else:
        path = request.getfixturevalue("built")("pic") / "purgatory.ro"
    return seed(path, workdir)


# The other architectures' purgatories, as Kbuild built them (Linux 6.12).
OTHER_MACHINES = ("6.12-s390x", "6.12-ppc64el", "6.12-riscv64")


@pytest.fixture(scope="module", params=OTHER_MACHINES)
def other_machine(request, tmp_path_factory, kernel_trees):
    tree = kernel_trees.prepared(request.param)
    return seed(tree.kbuild_purgatory_dir / "purgatory.ro",
                tmp_path_factory.mktemp("robustness"))


def run_on(path, data):
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["check", str(path)])
    return status, out.getvalue(), err.getvalue()


def assert_verdict(path, data):
    status, out, err = run_on(path, data)
    assert status in (0, 1, 2)
    if status == 2:
        assert err.startswith(f"kexec-purgatory: error: {path}: ")
        assert err.count("\n") == 1
    else:
        assert err == ""
        has_error = any(line.startswith(f"{path}: error: ")
                        for line in out.splitlines())
        assert has_error == (status == 1)


def positions(data, tables):
    anywhere = st.integers(0, len(data) - 1)
    in_tables = st.sampled_from(tables).flatmap(
        lambda t: st.integers(t[0], max(t[0], min(t[0] + t[1], len(data)) - 1)))
    return st.one_of(st.integers(0, 63), in_tables, anywhere)


@pytest.mark.slow
def test_truncated_copies_never_raise(good):
    path, data, _ = good

    @SETTINGS
    @given(st.integers(0, len(data) - 1))
    def check(length):
        assert_verdict(path, data[:length])
    check()


@pytest.mark.slow
def test_byte_mutated_copies_never_raise(good):
    path, data, tables = good

    @SETTINGS
    @given(st.lists(st.tuples(positions(data, tables), st.integers(0, 255)),
                    min_size=1, max_size=6))
    def check(mutations):
        damaged = bytearray(data)
        for offset, value in mutations:
            damaged[offset] = value
        assert_verdict(path, bytes(damaged))
    check()


@pytest.mark.slow
def test_mutated_purgatories_of_every_other_machine_never_raise(other_machine):
    """s390x (big-endian), ppc64le and riscv64: truncated and byte-mutated
    copies of Kbuild's own purgatory get a verdict, never a traceback."""
    path, data, tables = other_machine

    @settings(SETTINGS, max_examples=500)
    @given(st.one_of(
        st.integers(0, len(data) - 1).map(lambda n: [(None, n)]),
        st.lists(st.tuples(positions(data, tables), st.integers(0, 255)),
                 min_size=1, max_size=6)))
    def check(mutations):
        if mutations[0][0] is None:
            assert_verdict(path, data[:mutations[0][1]])
            return
        damaged = bytearray(data)
        for offset, value in mutations:
            damaged[offset] = value
        assert_verdict(path, bytes(damaged))
    check()
