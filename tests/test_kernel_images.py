# SPDX-License-Identifier: GPL-2.0-only
"""Kernel images as input (formats/kernel_image.py, ``extract``).

Debian's own images (downloaded once, tests/debian_images.py; marked
``kernel``): ``extract`` gives the bytes Kbuild builds from the matching
source and config, and ``check``/``run`` take the image directly.  Fast
tests build bzImage-like files, vmlinux executables and compressed images
around this tree's purgatory.ro, and damage them.
"""

import bz2
import gzip
import hashlib
import importlib.util
import io
import lzma
import random
import shutil
import struct
import sys
import subprocess

import pytest
from elftools.elf.elffile import ELFFile

from conftest import host_gcc, kexec_purgatory_cli, require_tool, tree_listing

pytest.importorskip("zstandard")
pytest.importorskip("lz4")
import lz4.block  # noqa: E402
import zstandard  # noqa: E402

from kexec_purgatory.cli import verify_kernel  # noqa: E402
from kexec_purgatory.errors import UserError  # noqa: E402
from kexec_purgatory.formats import kernel_image, read_blob  # noqa: E402


# -- Synthetic images -----------------------------------------------------------

def _filler(size, seed):
    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) for _ in range(size))


def _payload(blob):
    """A stand-in for a kernel: bytes, the blob at an 8-aligned offset, bytes."""
    head = _filler(40_000, 1) + b"\x7fELF but not a header" + bytes(3)
    return head + blob + _filler(30_000, 2)


def _lz4_legacy(data):
    out = bytearray(b"\x02\x21\x4c\x18")
    for at in range(0, len(data), 8 << 20):
        block = lz4.block.compress(data[at:at + (8 << 20)], store_size=False)
        out += struct.pack("<I", len(block)) + block
    return bytes(out)


def _lzop(data):
    """What Kbuild's cmd_lzo_with_size pipes through (scripts/Makefile.lib):
    the real lzop -9 on stdin; reading it back needs python-lzo."""
    require_tool(shutil.which("lzop"), "lzop is not installed (Debian package lzop)")
    require_tool(importlib.util.find_spec("lzo"),
                 "python-lzo is not installed (pip install -e '.[test]')")
    return subprocess.run(["lzop", "-9"], input=data, capture_output=True,
                          check=True).stdout


COMPRESS = {
    "gzip": lambda d: gzip.compress(d, mtime=0),
    "bzip2": bz2.compress,
    "xz": lambda d: lzma.compress(d, check=lzma.CHECK_CRC32),
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    # Kbuild's zstd writes the frame's checksum (Debian's payloads have it).
    "zstd": lambda d: zstandard.ZstdCompressor(level=3, write_checksum=True).compress(d),
    "lz4": _lz4_legacy,
    "lzo": _lzop,
}


def bzimage(payload, setup_sects=3, version=0x020F, pad=4096):
    """An x86 boot image as boot.rst describes it: setup sectors with the
    header (HdrS, protocol version, payload_offset/length), then the
    protected-mode code, the payload at payload_offset within it, and the
    size Kbuild appends."""
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    setup[0x1FE:0x200] = b"\x55\xaa"
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    struct.pack_into("<II", setup, 0x248, pad, len(payload))
    return bytes(setup) + bytes(pad) + payload + struct.pack("<I", 123456) + bytes(512)


@pytest.fixture(scope="module")
def purgatory(built):
    return (built("pic") / "purgatory.ro").read_bytes()


def cli(*args):
    return kexec_purgatory_cli(*args)


def assert_refused(result, *words):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_extract_from_a_bzimage(tmp_path, purgatory, compression):
    image = tmp_path / "vmlinuz-test"
    image.write_bytes(bzimage(COMPRESS[compression](_payload(purgatory))))
    out = tmp_path / "out/purgatory.ro"
    out.parent.mkdir()
    result = cli("extract", image, "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == purgatory
    digest = hashlib.sha256(purgatory).hexdigest()
    assert result.stdout == (
        f"{image}: {out}, {len(purgatory)} bytes, sha256 {digest}, from the "
        f"{compression} payload at 0x1800, ELF relocatable object at {40_024:#x}\n")
    assert (out.stat().st_mode & 0o777) == 0o644


def test_check_run_load_diff_name_the_image(tmp_path, purgatory, built):
    image = tmp_path / "vmlinuz-test"
    image.write_bytes(bzimage(COMPRESS["xz"](_payload(purgatory))))
    name = f"{image}[purgatory]"
    check = cli("check", image)
    assert check.returncode == 0, check.stdout + check.stderr
    run = cli("run", image)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"{name}: loaded at ")
    assert "PASS" in run.stdout
    load = cli("load", "--addr", "0x100000", "-o", tmp_path / "p.bin", image)
    assert load.returncode == 0, load.stderr
    assert load.stdout.startswith(f"{name}: ")
    same = cli("load", "--addr", "0x100000", "-o", tmp_path / "q.bin",
               built("pic") / "purgatory.ro")
    assert same.returncode == 0
    assert (tmp_path / "p.bin").read_bytes() == (tmp_path / "q.bin").read_bytes()
    diff = cli("diff", image, built("pic") / "purgatory.ro")
    assert diff.returncode == 0, diff.stdout
    assert name in diff.stdout


def test_extract_from_vmlinux_by_symbols_and_stripped(tmp_path, built):
    """A vmlinux with a symbol table: the blob is what kexec_purgatory and
    kexec_purgatory_size say; stripped, it is found in its sections."""
    out = built("pic")
    obj, vmlinux = tmp_path / "k.o", tmp_path / "vmlinux"
    subprocess.run([host_gcc(), "-c", "-I", out, "-o", obj,
                    out / "kexec-purgatory.S"], check=True)
    subprocess.run(["ld", "-e", "0", "-o", vmlinux, obj], check=True,
                   capture_output=True)
    result = cli("extract", vmlinux, "-o", tmp_path / "a.ro")
    assert result.returncode == 0, result.stderr
    assert "symbols kexec_purgatory and kexec_purgatory_size" in result.stdout
    purgatory = (out / "purgatory.ro").read_bytes()
    assert (tmp_path / "a.ro").read_bytes() == purgatory
    subprocess.run(["strip", vmlinux], check=True)
    result = cli("extract", vmlinux, "-o", tmp_path / "b.ro")
    assert result.returncode == 0, result.stderr
    assert "section .rodata, ELF relocatable object" in result.stdout
    assert (tmp_path / "b.ro").read_bytes() == purgatory


def test_compressed_image_without_header(tmp_path, purgatory):
    """An Image.gz: the whole file one stream, the blob inside."""
    image = tmp_path / "Image.gz"
    image.write_bytes(gzip.compress(_payload(purgatory), mtime=0))
    assert read_blob(str(image)).data == purgatory
    assert read_blob(str(image)).name == f"{image}[purgatory]"


def _bad(tmp_path, data, *words):
    """extract refuses ``data`` in one line, exit 2, writing nothing."""
    image = tmp_path / "vmlinuz-bad"
    image.write_bytes(data)
    before = tree_listing(tmp_path)
    line = assert_refused(cli("extract", image, "-o", tmp_path / "p.ro"),
                          str(image), *words)
    assert tree_listing(tmp_path) == before
    check = cli("check", image)
    assert check.returncode == 2 and len(check.stderr.splitlines()) == 1
    return line


def test_truncated_bzimage(tmp_path, purgatory):
    data = bzimage(COMPRESS["zstd"](_payload(purgatory)))
    _bad(tmp_path, data[:len(data) // 2], "truncated bzImage",
         "ends past the end of the file")
    _bad(tmp_path, data[:0x240], "truncated bzImage")


@pytest.mark.parametrize("compression", ["gzip", "xz", "zstd", "bzip2", "lzo"])
def test_damaged_payload(tmp_path, purgatory, compression):
    payload = bytearray(COMPRESS[compression](_payload(purgatory)))
    middle = len(payload) // 2
    payload[middle:middle + 64] = bytes(64)
    _bad(tmp_path, bzimage(bytes(payload)), f"damaged {compression} payload")


def test_damaged_lz4_block(tmp_path, purgatory):
    """lz4's legacy frame has no checksum: a damaged block's contents go
    unnoticed by decompression, a damaged block size does not."""
    payload = bytearray(COMPRESS["lz4"](_payload(purgatory)))
    payload[4:8] = struct.pack("<I", len(payload))
    _bad(tmp_path, bzimage(bytes(payload)), "damaged lz4 payload")


def test_payload_cut_short(tmp_path, purgatory):
    payload = COMPRESS["xz"](_payload(purgatory))
    _bad(tmp_path, bzimage(payload[:len(payload) // 2]),
         "damaged xz payload", "truncated")


def test_no_purgatory_in_the_image(tmp_path):
    line = _bad(tmp_path, bzimage(COMPRESS["gzip"](_filler(200_000, 3))),
                "x86 bzImage without a purgatory", "KEXEC_FILE")
    assert "gzip payload at 0x1800" in line


def test_an_image_holding_two_purgatories_is_refused_naming_both(tmp_path, purgatory):
    """Two whole x86_64 relocatable objects, each with purgatory_start (and
    a third cut short, which is no object): the reader cannot tell which is
    the kernel's and names where both lie."""
    payload = _payload(purgatory) + purgatory + _filler(100, 4) + purgatory[:2000]
    second = len(_payload(purgatory))
    _bad(tmp_path, bzimage(COMPRESS["gzip"](payload)),
         "2 relocatable x86_64 objects in the gzip payload at 0x1800",
         f"{40_024:#x}, {second:#x}", "cannot tell which is the purgatory")


def test_uncompressed_payload_and_old_protocol(tmp_path, purgatory):
    _bad(tmp_path, bzimage(_payload(purgatory)), "not compressed in a form")
    _bad(tmp_path, bzimage(COMPRESS["gzip"](purgatory), version=0x0206),
         "boot protocol 2.06")


def test_lzo_payload_cut_short_or_with_a_bad_checksum(tmp_path, purgatory):
    """lzop's blocks carry an adler32 of their data, which the kernel does
    not check and this reader does."""
    payload = bytearray(_lzop(_payload(purgatory)))
    _bad(tmp_path, bzimage(bytes(payload[:len(payload) // 2])),
         "damaged lzo payload", "truncated")
    header = 9 + 2 + 2 + 2 + 1 + 1 + 4 + 4 + 4 + 4 + 1 + 4   # no name
    payload[header + 8] ^= 0xFF       # the first block's adler32
    _bad(tmp_path, bzimage(bytes(payload)), "damaged lzo payload",
         "adler32 does not match")


def test_lzo_without_python_lzo_is_named(tmp_path, purgatory, monkeypatch):
    image = tmp_path / "vmlinuz-lzo"
    image.write_bytes(bzimage(_lzop(_payload(purgatory))))
    monkeypatch.setitem(sys.modules, "lzo", None)       # import lzo fails
    with pytest.raises(UserError, match=rf"^{image}: its payload is "
                       "lzo-compressed: reading it needs python-lzo"):
        read_blob(str(image))


@pytest.mark.parametrize("compression", ["zstd", "lzo"])
def test_decompressed_size_limit(tmp_path, purgatory, monkeypatch, compression):
    image = tmp_path / "vmlinuz-big"
    image.write_bytes(bzimage(COMPRESS[compression](_payload(purgatory) + bytes(1 << 20))))
    monkeypatch.setattr(kernel_image, "MAX_DECOMPRESSED", 1 << 20)
    with pytest.raises(UserError, match="decompresses to more than 1 MiB"):
        read_blob(str(image))
    monkeypatch.undo()
    assert read_blob(str(image)).data == purgatory


def test_extract_refuses_its_input_as_output(tmp_path, purgatory):
    image = tmp_path / "vmlinuz-test"
    image.write_bytes(bzimage(COMPRESS["gzip"](_payload(purgatory))))
    before = image.read_bytes()
    assert_refused(cli("extract", image, "-o", image), "is the input")
    assert image.read_bytes() == before


def test_banner_gives_the_version_and_the_compiler(tmp_path, purgatory):
    """The kernel's linux_banner (init/version-timestamp.c) in the payload:
    Debian's version from its version part (the release, the ABI name, says
    6.1.0), the compiler without its target prefix; a bare "Linux version
    %s" (as in an s390 image's decompressor) is not taken for it."""
    banner = ("6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) "
              "(s390x-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld "
              "(GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian "
              "6.1.192-3 (2026-11-26)")
    payload = (b"Linux version %s\n\0" + _payload(purgatory)
               + b"Linux version " + banner.encode() + b"\n\0")
    image = tmp_path / "vmlinuz-banner"
    image.write_bytes(bzimage(COMPRESS["gzip"](payload)))
    blob, _, found = kernel_image.examine(str(image), image.read_bytes())
    assert blob == purgatory and found == banner
    assert verify_kernel.banner_version(found) == "6.1.192"
    assert verify_kernel.banner_compiler(found) == "gcc-12"
    assert verify_kernel.banner_compiler(found.replace("(s390x-linux-gnu-gcc-12", "(clang")) is None
    image.write_bytes(bzimage(COMPRESS["gzip"](_payload(purgatory))))
    assert kernel_image.examine(str(image), image.read_bytes())[2] is None


def test_an_object_still_reads_as_itself(tmp_path, purgatory):
    """A purgatory.ro is not mistaken for a kernel image."""
    ro = tmp_path / "purgatory.ro"
    ro.write_bytes(purgatory)
    assert read_blob(str(ro)).form == "ELF object"
    assert not kernel_image.detect(str(ro), purgatory)


# -- Debian's images (downloaded; marked kernel) --------------------------------

def _elf(data):
    return ELFFile(io.BytesIO(data))


def _extract(tmp_path, image):
    out = tmp_path / "purgatory.ro"
    result = cli("extract", image, "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{image}: {out}, ")
    return out.read_bytes()


def _accepted(image):
    check = cli("check", image)
    assert check.returncode == 0, check.stdout + check.stderr
    return check


@pytest.mark.slow
def test_debian_6_1_cloud_amd64(tmp_path, kernel_trees, kernel_images):
    tree = kernel_trees.prepared("cloud-amd64")
    image = kernel_images.image("amd64", "cloud-amd64", f"{tree.version}-")
    kbuild = (tree.kbuild_purgatory_dir / "purgatory.ro").read_bytes()
    assert _extract(tmp_path, image) == kbuild
    _accepted(image)
    run = cli("run", image)
    assert run.returncode == 0 and "PASS" in run.stdout, run.stdout + run.stderr
    assert run.stdout.startswith(f"{image}[purgatory]: ")


@pytest.mark.slow
def test_debian_6_12_cloud_amd64(tmp_path, kernel_trees, kernel_images):
    tree = kernel_trees.prepared("6.12-cloud-amd64")
    version = tree.debian[0].split("=", 1)[1].split()[0]   # 6.12.117-1~deb12u1
    image = kernel_images.image("amd64", "cloud-amd64", version)
    kbuild = (tree.kbuild_purgatory_dir / "purgatory.ro").read_bytes()
    assert _extract(tmp_path, image) == kbuild
    _accepted(image)
    run = cli("run", image)
    assert run.returncode == 0 and "PASS" in run.stdout, run.stdout + run.stderr


@pytest.mark.slow
def test_debian_6_12_s390x(tmp_path, kernel_images):
    """The purgatory in the zstd payload of the s390 image: an EM_S390
    ET_REL (23,768 bytes for 6.12.95, which Kbuild rebuilds byte for byte
    from 6.12.95's source)."""
    image = kernel_images.image("s390x", "s390x", "6.12.")
    blob = _extract(tmp_path, image)
    elf = _elf(blob)
    assert elf.header["e_machine"] == "EM_S390"
    assert elf.header["e_type"] == "ET_REL"
    symbols = elf.get_section_by_name(".symtab")
    assert symbols.get_symbol_by_name("purgatory_start")
    if "6.12.95-" in kernel_images.package_of(image):
        assert len(blob) == 23_768


# -- verify-kernel (prepares a tree: about 30 s, then 1 to 5 s a build) ---------

@pytest.fixture(scope="module")
def verify_work(tmp_path_factory):
    return tmp_path_factory.mktemp("verify-kernel")


def _verify_kernel(tree, image, work, *extra):
    config = tree.src.parent / "configs/amd64/config.amd64_none_cloud-amd64.xz"
    return cli("verify-kernel", image, "--source", tree.src, "--config", config,
               "--work", work, *extra)


@pytest.mark.slow
def test_verify_kernel_identical(kernel_trees, kernel_images, verify_work):
    tree = kernel_trees.prepared("6.12-cloud-amd64")
    version = tree.debian[0].split("=", 1)[1].split()[0]
    image = kernel_images.image("amd64", "cloud-amd64", version)
    result = _verify_kernel(tree, image, verify_work)
    assert result.returncode == 0, result.stdout + result.stderr
    shipped = hashlib.sha256(read_blob(str(image)).data).hexdigest()
    assert result.stdout.startswith(f"{image}[purgatory]: identical to the purgatory rebuilt from ")
    assert f"(sha256 {shipped})" in result.stdout
    assert "verify-kernel: make olddefconfig prepare" in result.stderr \
        or "prepared already" in result.stderr


@pytest.mark.slow
def test_verify_kernel_s390x_identical_from_debians_source_tarball(kernel_images):
    """Debian's s390x 6.12.95 image against linux-source-6.12's tarball and
    linux-config-6.12's s390x config of the same version (bookworm-backports):
    the tarball is extracted only as far as s390's purgatory needs, and the
    compiler is the one the image's banner names, with the s390x prefix.
    The work directory is kept in the cache: warm, about 3 s."""
    image = kernel_images.image("s390x", "s390x", "6.12.")
    version = kernel_images.package_of(image).split("=", 1)[1]
    tarball, configs = kernel_images.source(version, "s390x")
    work = kernel_images.verify_work(f"s390x-{version}")
    result = cli("verify-kernel", image, "--source", tarball, "--config",
                 configs / "config.s390x_none_s390x.xz", "--work", work)
    assert result.returncode == 0, result.stdout + result.stderr
    shipped = hashlib.sha256(read_blob(str(image)).data).hexdigest()
    upstream = version.split("-")[0]
    assert result.stdout == (
        f"{image}[purgatory]: identical to the purgatory rebuilt from "
        f"{work / 'src'} ({upstream}, s390x-linux-gnu-gcc-12) (sha256 {shipped})\n")
    assert (work / "src/arch/s390/purgatory/purgatory.c").exists()
    assert not (work / "src/arch/x86/purgatory/purgatory.c").exists()
    assert not list((work / "src/drivers/net").glob("*.c"))


@pytest.mark.slow
def test_verify_kernel_other_version(kernel_trees, kernel_images, verify_work):
    """The 6.1 image against 6.12's source: exit 1, the difference, and the
    version named as the cause."""
    tree = kernel_trees.prepared("6.12-cloud-amd64")
    tree61 = kernel_trees.prepared("cloud-amd64")
    image = kernel_images.image("amd64", "cloud-amd64", f"{tree61.version}-")
    result = _verify_kernel(tree, image, verify_work)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "different:" in result.stdout
    assert (f"likely cause: another source version: the image is {tree61.version}"
            in result.stdout)
    as_json = _verify_kernel(tree, image, verify_work, "--json")
    assert as_json.returncode == 1
    import json
    data = json.loads(as_json.stdout)
    assert data["identical"] is False and data["source_version"] == tree.version


@pytest.mark.slow
def test_verify_kernel_with_one_purgatory_option_changed_explains_the_difference(
        kernel_trees, kernel_images, tmp_path):
    """Debian's config with -Os instead of -O2 (CONFIG_CC_OPTIMIZE_FOR_SIZE):
    exit 1, and the difference in the purgatory's own terms (its code)."""
    import lzma
    tree = kernel_trees.prepared("6.12-cloud-amd64")
    version = tree.debian[0].split("=", 1)[1].split()[0]
    image = kernel_images.image("amd64", "cloud-amd64", version)
    debian = tree.src.parent / "configs/amd64/config.amd64_none_cloud-amd64.xz"
    text = lzma.decompress(debian.read_bytes()).decode()
    assert "CONFIG_CC_OPTIMIZE_FOR_PERFORMANCE=y" in text
    changed = tmp_path / "config"
    changed.write_text(text.replace(
        "# CONFIG_CC_OPTIMIZE_FOR_SIZE is not set\n", "").replace(
        "CONFIG_CC_OPTIMIZE_FOR_PERFORMANCE=y",
        "# CONFIG_CC_OPTIMIZE_FOR_PERFORMANCE is not set\n"
        "CONFIG_CC_OPTIMIZE_FOR_SIZE=y"))
    result = cli("verify-kernel", image, "--source", tree.src, "--config",
                 changed, "--work", tmp_path / "work")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "different:" in result.stdout
    assert "section .text:" in result.stdout
