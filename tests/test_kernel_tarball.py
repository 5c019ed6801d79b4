# SPDX-License-Identifier: GPL-2.0-only
"""kernel/tarball.py: a Linux source tarball extracted as far as prepare and
the purgatory need, once, atomically."""

import os
import tarfile

import pytest

from kexec_purgatory.errors import UserError
from kexec_purgatory.kernel import tarball

KEPT = ["include/net/checksum.h", "net/Kconfig", "net/Makefile",
        "arch/s390/kernel/asm-offsets.c", "arch/x86/purgatory/purgatory.c",
        "arch/arm/Kconfig", "Documentation/Kconfig", "lib/string.c",
        "drivers/Kconfig", "tools/objtool/check.c"]
DROPPED = ["net/core/dev.c", "fs/ext4/inode.c", "drivers/net/tun.c",
           "sound/core/init.c", "arch/arm/kernel/setup.c",
           "arch/powerpc/boot/dts/a.dts", "Documentation/index.rst",
           "tools/testing/selftests/Makefile", "tools/perf/Makefile"]


def _source_tarball(tmp_path, top="linux-source-6.12"):
    path = tmp_path / "linux-source.tar.xz"
    for name in KEPT + DROPPED:
        file = tmp_path / "files" / top / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("x\n")
    with tarfile.open(path, "w:xz") as tar:
        tar.add(tmp_path / "files" / top, arcname=top)
    return path


def test_extraction_keeps_what_prepare_reads_and_drops_the_rest(tmp_path):
    """The patterns are anchored at the tarball's top directory: include/net
    (which s390's asm-offsets reads) stays while net/'s sources go."""
    source = _source_tarball(tmp_path)
    out = tmp_path / "work/src"
    out.parent.mkdir()
    said = []
    assert tarball.extract(source, out, ("x86", "s390"), say=said.append)
    assert [n for n in KEPT if not (out / n).exists()] == []
    assert [n for n in DROPPED if (out / n).exists()] == []
    assert len(said) == 1 and str(source) in said[0]
    assert os.listdir(out.parent) == ["src"]


def test_extraction_is_done_once_per_tarball_and_architectures(tmp_path):
    source = _source_tarball(tmp_path)
    out = tmp_path / "src"
    assert tarball.extract(source, out, ("x86",))
    (out / "marker").write_text("kept\n")
    assert not tarball.extract(source, out, ("x86",))
    assert (out / "marker").exists()
    assert tarball.extract(source, out, ("s390",))
    assert not (out / "marker").exists()
    assert (out / "arch/s390/kernel/asm-offsets.c").exists()


def test_a_damaged_tarball_is_one_line_and_leaves_nothing(tmp_path):
    source = _source_tarball(tmp_path)
    data = source.read_bytes()
    source.write_bytes(data[:len(data) // 2])
    out = tmp_path / "work/src"
    out.parent.mkdir()
    with pytest.raises(UserError, match=f"^tar -x {source} failed"):
        tarball.extract(source, out, ("x86",))
    assert os.listdir(out.parent) == []
    source.write_bytes(b"not a tarball")
    with pytest.raises(UserError, match="not a readable tar archive"):
        tarball.extract(source, out, ("x86",))
