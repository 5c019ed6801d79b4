# SPDX-License-Identifier: GPL-2.0-only
"""``kexec-purgatory verify-kernel``: rebuild the purgatory a kernel image
carries from a source tree and a config, and compare.

Steps: the purgatory and the kernel's banner are read from IMAGE
(formats/kernel_image.py); SRC (a directory, or a ``linux-source-*.tar.*``
extracted into WORK/src as far as the image's architecture needs,
kernel/tarball.py) is configured with CONFIG (plain or ``.xz``) in WORK/obj
with ``make olddefconfig prepare`` (skipped when WORK/obj was prepared from
the same source, config and compiler already) and the compiler the banner
names; kernel mode (``scons/kernel.SConscript``, run standalone) builds
Kbuild's purgatory under WORK/out; the two are compared.

Exit status: 0 identical; 1 different, with ``diff``'s report and the
likely cause where one is visible (another compiler in ``.comment``,
another source version in the image's banner than in SRC's Makefile); 2
bad input or a failed step (one line).
"""

import hashlib
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from .. import abi
from ..digests import sha256_hex
from ..elf import diff as elfdiff
from ..elf.reader import parse_elf
from ..errors import UserError
from ..files import read_bytes, work_directory
from ..formats import kernel_image
from ..kernel import tarball
from . import contract

HELP = ("rebuild the purgatory a kernel image carries from its source and "
        "config, and compare")
EXIT_STATUS = ("identical", "different (the difference and its likely cause "
               "are printed)", "bad input or a failed step")

STAMP = ".kexec-purgatory-prepared"


def add_arguments(parser):
    parser.add_argument("image", metavar="IMAGE", help="the kernel image (vmlinuz, vmlinux, ...)")
    parser.add_argument("--source", required=True, metavar="SRC",
                        help="the kernel source: a directory or a linux-source-*.tar.* file")
    parser.add_argument("--config", required=True, metavar="CONFIG",
                        help="the kernel's .config (e.g. /boot/config-*, or Debian's config.*.xz)")
    parser.add_argument("--cc", metavar="CC",
                        help="the C compiler (default: the one named in the "
                             "purgatory's .comment, e.g. gcc-12, if on PATH)")
    parser.add_argument("--work", metavar="DIR",
                        help="where to extract, prepare and build (kept; "
                             "default: a temporary directory, removed)")
    parser.epilog = "Each step's start and end is a line on stderr."


def _progress(text):
    contract.progress("verify-kernel", text)


def _run(argv, what, cwd=None):
    started = time.monotonic()
    result = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True,
                            text=True, env=dict(os.environ, LC_ALL="C"))
    if result.returncode != 0:
        # The cause, not make's "*** [...] Error 2" lines after it.
        lines = [line.strip() for line in
                 (result.stdout + result.stderr).splitlines() if line.strip()]
        causes = [line for line in lines if not re.match(r"make(\[\d+\])?: ", line)]
        last = (causes or lines or [""])[-1]
        raise UserError(f"{what} failed ({result.returncode}): {last}")
    return time.monotonic() - started


def source_version(src):
    values = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL) = *(\S*)",
                             read_bytes(os.path.join(src, "Makefile")).decode(
                                 "utf-8", "replace"), re.M))
    if len(values) < 3:
        raise UserError(f"{src}: not a Linux source tree (no version in its Makefile)")
    return f"{values['VERSION']}.{values['PATCHLEVEL']}.{values['SUBLEVEL']}"


# The banner's parts (init/version-timestamp.c, linux_banner): RELEASE
# (BY@HOST) (COMPILER, LINKER) #VERSION; the compiler's own version has
# parentheses too.
_BANNER = re.compile(r"(?P<release>\S+) \((?P<by>[^)]*)\) "
                     r"\((?P<compiler>.*)\) (?P<version>#.*)")


def banner_version(banner):
    """'6.12.117' from the banner: Debian's 'Debian X.Y.Z-...' in its
    version part when there (its release, the ABI name, may say 6.1.0),
    else the release's leading version."""
    parts = _BANNER.match(banner)
    found = re.search(r"Debian (\d+\.\d+\.\d+)",
                      parts["version"] if parts else banner) or \
        re.match(r"(\d+\.\d+(?:\.\d+)?)", banner)
    return found.group(1) if found else None


def banner_compiler(banner):
    """The compiler the banner names, without a target prefix ('gcc-12'
    from 's390x-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU
    ld ...'), or None."""
    parts = _BANNER.match(banner or "")
    program = parts["compiler"].split()[0] if parts else ""
    found = re.fullmatch(r"(?:[\w.]+-linux-\w+-)?(gcc(?:-\d+)?)", program)
    return found.group(1) if found else None


def comment(data):
    """The purgatory's .comment text (the compiler's version), or ''."""
    section = parse_elf(data, "purgatory").get_section_by_name(".comment")
    return section.data().replace(b"\0", b" ").decode("ascii", "replace").strip() \
        if section else ""


def _compiler(cross, data, banner, given):
    """--cc; else the compiler the image's banner names, with this
    machine's prefix for the image's architecture; else gcc-N for the GCC
    N in the purgatory's .comment; each only if on PATH; else gcc."""
    if given:
        return given
    names = []
    named = banner_compiler(banner)
    if named:
        names.append(f"{cross}{named}")
    found = re.search(r"GCC: \(.*?\) (\d+)\.", comment(data))
    if found:
        names.append(f"{cross}gcc-{found.group(1)}")
    for name in names:
        if shutil.which(name):
            return name
    return f"{cross}gcc"


def _source_dir(source, work, arch):
    """SRC itself, or the tarball extracted into WORK/src as far as ARCH's
    purgatory needs (kernel/tarball.py; kept for the next run)."""
    if os.path.isdir(source):
        return os.path.abspath(source)
    if not re.search(r"\.tar(\.\w+)?$", source) or not os.path.isfile(source):
        raise UserError(f"{source}: not a directory nor a .tar archive")
    src = os.path.join(work, "src")
    started = time.monotonic()
    if tarball.extract(source, src, (arch,), say=_progress):
        _progress(f"extracted in {time.monotonic() - started:.0f} s")
    else:
        _progress(f"{src}: extracted already")
    return src


def _config_bytes(path):
    data = read_bytes(path)
    if data.startswith(b"\xfd7zXZ\0"):
        data = lzma.decompress(data)
    return data


def _prepare(src, obj, config, make_vars):
    key = hashlib.sha256(repr((src, tarball.identity(src),
                               sorted(make_vars.items()))).encode()
                         + config).hexdigest()
    stamp = os.path.join(obj, STAMP)
    if os.path.exists(stamp) and open(stamp).read().strip() == key:
        _progress(f"{obj}: prepared already")
        return
    shutil.rmtree(obj, ignore_errors=True)
    os.makedirs(obj)
    with open(os.path.join(obj, ".config"), "wb") as f:
        f.write(config)
    _progress(f"make olddefconfig prepare in {obj} (30 to 80 s)")
    words = [f"{k}={v}" for k, v in make_vars.items()]
    took = _run(["make", "-s", f"-j{os.cpu_count() or 1}", "-C", src, f"O={obj}",
                 *words, "olddefconfig", "prepare"], "make olddefconfig prepare")
    _progress(f"prepared in {took:.0f} s")
    with open(stamp, "w") as f:
        f.write(key + "\n")


def _build(src, obj, out, make_vars):
    script = os.path.join(os.path.dirname(os.path.dirname(__file__)), "scons",
                          "kernel.SConscript")
    site = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    _progress(f"building the purgatory with kernel mode in {out}")
    took = _run([sys.executable, "-m", "SCons", "-Q", "-C", src, "-f", script,
                 f"--site-dir={site}", f"KERNEL={src}", f"KERNEL_O={obj}", f"O={out}",
                 *(f"{k}={v}" for k, v in make_vars.items() if k != "RUSTC")],
                "scons kernel mode")
    _progress(f"built in {took:.0f} s")
    return os.path.join(out, "arch", make_vars["ARCH"], "purgatory", "purgatory.ro")


def _version_words(line):
    """A compiler's version line without its program name: what two builds
    of one compiler under different names share."""
    return line.split(" ", 1)[1] if " " in line else line


def causes(shipped, rebuilt, banner, src_version, cc):
    found = []
    a, b = comment(shipped), comment(rebuilt)
    parts = _BANNER.match(banner or "")
    if a != b:
        found.append(f"another compiler: the image's purgatory says {a!r}, "
                     f"the rebuilt one {b!r}")
    elif parts:
        # No .comment to tell (s390's purgatory has none): the banner's.
        built_with = parts["compiler"].split(", ")[0]
        try:
            out = subprocess.run([cc, "--version"], capture_output=True,
                                 text=True).stdout.splitlines()
        except OSError:
            out = []
        used = out[0] if out else ""
        if used and _version_words(used) != _version_words(built_with):
            found.append(f"another compiler: the image's banner says "
                         f"{built_with!r}, {cc} is {used!r}")
    image_version = banner_version(banner) if banner else None
    if image_version and image_version != src_version:
        found.append(f"another source version: the image is {image_version} "
                     f"(its banner: {banner.split(' (')[0]}), SRC's Makefile "
                     f"says {src_version}")
    return found


def verify(args, work):
    image = read_bytes(args.image)
    if not kernel_image.detect(args.image, image):
        raise UserError(f"{args.image}: not a kernel image")
    shipped, origin, banner = kernel_image.examine(args.image, image)
    name = kernel_image.purgatory_name(args.image)
    machine = parse_elf(shipped, name).header["e_machine"]
    module = abi.ARCHITECTURES.get(machine)
    if module is None:
        raise UserError(f"{name}: {machine}: no kernel architecture to rebuild it for")
    arch = module.KBUILD_ARCH
    cross = "" if os.uname().machine == module.HOST_MACHINE else module.DEBIAN_CROSS_COMPILE
    src = _source_dir(args.source, work, arch)
    src_version = source_version(src)
    make_vars = {"ARCH": arch}
    if cross:
        make_vars["CROSS_COMPILE"] = cross
    make_vars["CC"] = _compiler(cross, shipped, banner, args.cc)
    make_vars["RUSTC"] = "/nonexistent"
    obj, out = os.path.join(work, "obj"), os.path.join(work, "out")
    _prepare(src, obj, _config_bytes(args.config), make_vars)
    rebuilt = read_bytes(_build(src, obj, out, make_vars))
    result = {"image": args.image, "purgatory": name, "origin": origin,
              "banner": banner, "source": src, "source_version": src_version,
              "cc": make_vars["CC"], "shipped_sha256": sha256_hex(shipped),
              "rebuilt_sha256": sha256_hex(rebuilt),
              "identical": rebuilt == shipped}
    if not result["identical"]:
        result["report"] = elfdiff.compare_elf(shipped, rebuilt, name,
                                               f"{src} (rebuilt)")
        result["causes"] = causes(shipped, rebuilt, banner, src_version,
                                  make_vars["CC"])
    return result


def run(args):
    if args.work:
        work_directory(args.work, "--work")
        result = verify(args, os.path.abspath(args.work))
    else:
        with tempfile.TemporaryDirectory(prefix="verify-kernel-") as work:
            result = verify(args, work)
    status = 0 if result["identical"] else 1
    if args.json:
        return contract.print_json(result, status)
    if result["identical"]:
        print(f"{result['purgatory']}: identical to the purgatory rebuilt from "
              f"{result['source']} ({result['source_version']}, {result['cc']}) "
              f"(sha256 {result['shipped_sha256']})")
    else:
        print(f"{result['purgatory']}: differs from the purgatory rebuilt from "
              f"{result['source']} ({result['source_version']}, {result['cc']})")
        print("\n".join(elfdiff.format_report(result["report"])))
        for cause in result["causes"] or ["no cause visible from the image and "
                                          "SRC: compare the config and the flags"]:
            print(f"likely cause: {cause}")
    return 0 if result["identical"] else 1
