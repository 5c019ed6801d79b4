# SPDX-License-Identifier: GPL-2.0-only
"""The two initramfs images of a boot test and the init they run.

init.c (beside this module) is compiled with the host's ``gcc -static``:
the guests have no C library.  Stage 2's archive holds the init alone;
stage 1's adds what stage 1 hands to kexec_file_load(2): the second kernel,
stage 2's archive as its initrd, its command line, the path (normal or
crash) and, when asked, how many seconds to hold before the jump.
/dev/console is in both, since the kernel opens it for init before anything
could mount devtmpfs (init/main.c, console_on_rootfs).
"""

import os
import shutil
import subprocess
import tempfile

from ..errors import UserError
from ..files import read_bytes
from . import cpio

INIT_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "init.c")
CFLAGS = ("-static", "-Os", "-Wall", "-Werror", "-s")


def compile_init(cc="gcc"):
    """The static init's bytes, compiled from init.c; one line if the host
    cannot (no compiler, no static C library)."""
    if shutil.which(cc) is None:
        raise UserError(f"{cc}: not found; boot-test compiles its init with "
                        "the host's gcc -static (Debian: gcc, libc6-dev)")
    with tempfile.TemporaryDirectory(prefix="boot-test-init-") as tmp:
        output = os.path.join(tmp, "init")
        result = subprocess.run([cc, *CFLAGS, "-o", output, INIT_SOURCE],
                                capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"{INIT_SOURCE}: {cc} -static failed: {last}")
        return read_bytes(output)


def _base(init):
    return [cpio.directory("dev"), cpio.char_device("dev/console", 5, 1),
            cpio.directory("proc"), cpio.directory("sys"),
            cpio.regular("init", init, executable=True)]


def stage2_archive(init):
    return cpio.newc(_base(init))


def stage1_archive(init, mode, second_kernel, second_cmdline, hold=None):
    """Stage 1's archive: ``mode`` is "normal" or "crash"; ``hold``
    seconds between the load and the jump, if not None."""
    held = [] if hold is None else [
        cpio.regular("boottest/hold", f"{hold}\n".encode())]
    return cpio.newc([
        *_base(init), cpio.directory("boottest"),
        cpio.regular("boottest/mode", mode.encode() + b"\n"),
        cpio.regular("boottest/cmdline", second_cmdline.encode() + b"\n"),
        cpio.regular("boottest/kernel", second_kernel),
        cpio.regular("boottest/initrd", stage2_archive(init)), *held,
    ])
