# SPDX-License-Identifier: GPL-2.0-only
"""The small kernel boot-test builds from a Linux source tree, once, and
the purgatory it embeds the way Kbuild does.

Configured as ``tinyconfig`` plus the options a boot test needs (OPTIONS)
and what they depend on or init uses (HELPERS), checked after
``olddefconfig``: an option Kconfig dropped is one line naming it.  Built
in OBJ with ``make bzImage`` (about 7 minutes on 2 cores for 6.1), then
kept: a stamp file written last records the source version and options,
so a later call only relinks.

Embedding: arch/x86/purgatory/Makefile links purgatory.ro with
``if_changed`` and makes kexec-purgatory.o (whose .S ``.incbin``s it)
depend on it.  A purgatory.ro written there after the kernel's own is
newer than its prerequisites with the same command, so make keeps it,
re-assembles kexec-purgatory.o and relinks: under 10 s.  The bzImage is
then read back (formats/kernel_image.py, as ``extract`` does) and must hold
exactly those bytes.
"""

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time

from ..digests import sha256_hex
from ..errors import UserError
from ..files import read_bytes, write_atomically
from ..formats import read_blob
from ..kernel.kconfig import read_config

# What the test needs (the list, docs/boot-test.md).
OPTIONS = ("64BIT", "PRINTK", "TTY", "SERIAL_8250", "SERIAL_8250_CONSOLE",
           "BINFMT_ELF", "PROC_FS", "SYSFS", "DEVTMPFS", "BLK_DEV_INITRD",
           "RELOCATABLE", "KEXEC_FILE", "CRASH_DUMP", "PROC_VMCORE",
           "MAGIC_SYSRQ", "DYNAMIC_DEBUG")
# KEXEC_FILE depends on CRYPTO=y and CRYPTO_SHA256=y (arch/x86/Kconfig),
# which tinyconfig leaves off; init's isa-debug-exit needs ioperm
# (X86_IOPL_IOPERM); glibc's static start-up is happier with futexes; the
# config probe reads IKCONFIG.
HELPERS = ("CRYPTO", "CRYPTO_SHA256", "X86_IOPL_IOPERM", "FUTEX", "IKCONFIG")
STAMP = ".kexec-purgatory-boot-kernel"
BZIMAGE = os.path.join("arch", "x86", "boot", "bzImage")
PURGATORY = os.path.join("arch", "x86", "purgatory", "purgatory.ro")


def _progress(text):
    print(f"boot-test: {text}", file=sys.stderr, flush=True)


def _make(src, obj, *goals, what):
    argv = ["make", "-s", f"-j{os.cpu_count() or 1}", "-C", src, f"O={obj}",
            *goals]
    if shutil.which("nice"):
        argv = ["nice", *argv]
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True,
                            env=dict(os.environ, LC_ALL="C"))
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).strip().splitlines()
        errors = [line for line in lines if "error" in line.lower()]
        raise UserError(f"{obj}: {what} failed: "
                        f"{(errors or lines or ['no output'])[0]}")
    return time.monotonic() - started


def source_version(src):
    makefile = read_bytes(os.path.join(src, "Makefile"), 4096).decode(
        "utf-8", "replace")
    fields = dict(line.split(" = ", 1) for line in makefile.splitlines()
                  if line.split(" = ", 1)[0] in ("VERSION", "PATCHLEVEL",
                                                 "SUBLEVEL") and " = " in line)
    if len(fields) < 3:
        raise UserError(f"{src}: not a Linux source tree (no version in its "
                        "Makefile)")
    return f"{fields['VERSION']}.{fields['PATCHLEVEL']}.{fields['SUBLEVEL']}"


def _key(src):
    return hashlib.sha256(repr((os.path.abspath(src), source_version(src),
                                OPTIONS, HELPERS)).encode()).hexdigest()


@contextlib.contextmanager
def locked(obj):
    """One user of OBJ at a time (concurrent tests embed in turn)."""
    os.makedirs(obj, exist_ok=True)
    with open(os.path.join(obj, ".lock-boot-test"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _configure(src, obj):
    _make(src, obj, "tinyconfig", what="make tinyconfig")
    config = os.path.join(obj, ".config")
    words = [word for option in (*OPTIONS, *HELPERS)
             for word in ("--enable", option)]
    result = subprocess.run([os.path.join(src, "scripts", "config"), "--file",
                             config, *words], capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"{src}/scripts/config failed: {result.stderr.strip()}")
    _make(src, obj, "olddefconfig", what="make olddefconfig")
    values = read_config(config)
    dropped = [o for o in (*OPTIONS, *HELPERS) if values[o] != "y"]
    if dropped:
        raise UserError(f"{config}: olddefconfig left "
                        f"{', '.join('CONFIG_' + o for o in dropped)} unset "
                        "(a dependency this version needs is missing)")


def build(src, obj):
    """The small kernel's bzImage path in OBJ, built if OBJ has none from
    the same source and options.  Call under ``locked(obj)``."""
    if not os.path.isfile(os.path.join(src, "Makefile")):
        raise UserError(f"{src}: not a Linux source tree (no Makefile)")
    stamp = os.path.join(obj, STAMP)
    key = _key(src)
    bzimage = os.path.join(obj, BZIMAGE)
    if (os.path.exists(stamp) and read_bytes(stamp).decode().strip() == key
            and os.path.exists(bzimage)):
        return bzimage
    if os.path.exists(stamp):
        os.unlink(stamp)
    _progress(f"building the small kernel {source_version(src)} from {src} "
              f"in {obj} (once; about 7 minutes on 2 cores)")
    _configure(src, obj)
    took = _make(src, obj, "bzImage", what="make bzImage")
    _progress(f"small kernel built in {took:.0f} s")
    write_atomically(stamp, key.encode() + b"\n")
    return bzimage


def embed(src, obj, purgatory, name):
    """Relink the kernel in OBJ around ``purgatory`` (purgatory.ro's bytes)
    and prove the bzImage carries exactly them; the bzImage's bytes.
    Call under ``locked(obj)`` after ``build``."""
    write_atomically(os.path.join(obj, PURGATORY), purgatory)
    took = _make(src, obj, "bzImage", what="relinking with " + name)
    bzimage = os.path.join(obj, BZIMAGE)
    carried = read_blob(bzimage).data
    if carried != purgatory:
        raise UserError(f"{bzimage}: carries a purgatory with sha256 "
                        f"{sha256_hex(carried)}, not {name}'s "
                        f"{sha256_hex(purgatory)}")
    _progress(f"{name} embedded in {bzimage} in {took:.0f} s (read back: "
              f"the same {len(purgatory)} bytes, sha256 "
              f"{sha256_hex(purgatory)[:16]}...)")
    return read_bytes(bzimage)


def kernel_with(src, obj, purgatory_path, output):
    """Build (once) the small kernel from SRC in OBJ with the purgatory at
    ``purgatory_path`` and write its bzImage to ``output``."""
    purgatory = read_bytes(purgatory_path)
    with locked(obj):
        build(src, obj)
        image = embed(src, obj, purgatory, purgatory_path)
    write_atomically(output, image)
    return output
