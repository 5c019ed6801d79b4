# SPDX-License-Identifier: GPL-2.0-only
"""A boot test: each asked path (normal, crash) booted once and judged.

Before any boot, what can be known is checked, so that a test that cannot
run says so (exit 2) instead of failing: the image is a bzImage, its config
(IKCONFIG, or config-VERSION beside it) has what the paths need, QEMU is
there, the accelerator asked for is usable, init compiles.  The purgatory
the first kernel carries is read from it (formats/kernel_image.py) to place
a stopped RIP and, when it is this tree's, to read which SHA-256 path it
took (boottest/sha256_path.py).  Serial logs go to LOGS, named IMAGE.MODE.serial.log, with
QEMU's own output in IMAGE.MODE.qemu.log; the initramfs images are
temporary.
"""

import os
import sys
import tempfile
from dataclasses import dataclass

from ..errors import UserError
from ..files import read_bytes, work_directory, write_atomically
from ..formats import read_blob
from . import accel as accelerators
from . import initramfs, kernel_config, qemu, sha256_path, verdict

MODES = ("normal", "crash")
CONSOLE = "console=ttyS0 panic=-1"
# Stage 2 finds these on its command line (init.c).
STAGE2 = "kpboot.stage=2 kpboot.mode={mode}"


@dataclass
class Options:
    kernel: str
    second_kernel: str | None = None
    modes: tuple = MODES
    accel: str = "auto"
    cpu: str | None = None
    timeout: float = 60.0
    quiet: float = 5.0
    append: str = ""
    memory_mib: int = 1024
    crashkernel: str = "256M"
    logs: str = "boot-test-logs"


@dataclass
class Result:
    kernel: str
    accel: accelerators.Accel
    config_source: str
    verdicts: list

    def exit_status(self):
        outcomes = {v.outcome for v in self.verdicts}
        if verdict.UNUSABLE in outcomes:
            return 2
        return 0 if outcomes == {verdict.OK} else 1

    def as_json(self):
        return {"kernel": self.kernel,
                "accel": {"name": self.accel.name, "reason": self.accel.reason},
                "config": self.config_source,
                "paths": [v.as_json() for v in self.verdicts],
                "exit_status": self.exit_status()}


def progress(text):
    print(f"boot-test: {text}", file=sys.stderr, flush=True)


def _carried_purgatory(path):
    """The purgatory.ro the first kernel carries, to place a RIP with."""
    try:
        blob = read_blob(path)
    except UserError as e:
        progress(f"cannot read the purgatory {path} carries ({e}): a stopped "
                 "RIP will not be placed")
        return None, None
    return (blob.data, blob.name) if blob.kind == "elf" else (None, None)


def _path_probe(purgatory, name):
    try:
        probe = sha256_path.Probe.for_purgatory(purgatory, name)
    except UserError as e:
        progress(f"the SHA-256 path will not be read: {e}")
        return None
    if probe is not None:
        progress("this tree's purgatory: the SHA-256 path it takes will be "
                 f"read (stage 1 holds {qemu.HOLD_SECONDS} s before the jump)")
    return probe


def _checked_config(path, modes, roles):
    config = kernel_config.probe(path, read_bytes(path))
    progress(f"config of {path}: " + (config.source if config.config
             is not None else f"unknown ({config.source}); going on"))
    for role in roles:
        kernel_config.check(config, modes, role)
    return config


def command_lines(options, mode):
    """(first kernel's, second kernel's) command lines for ``mode``."""
    extra = f" {options.append}" if options.append else ""
    first = CONSOLE + extra
    if mode == "crash":
        first += f" crashkernel={options.crashkernel}"
    return first, f"{CONSOLE}{extra} {STAGE2.format(mode=mode)}"


def run(options):
    for mode in options.modes:
        if mode not in MODES:
            raise UserError(f"--modes: {mode!r}: not one of {', '.join(MODES)}")
    qemu.qemu_path()
    second_path = options.second_kernel or options.kernel
    same = second_path == options.kernel
    first_config = _checked_config(options.kernel, options.modes,
                                   ("first", "second") if same else ("first",))
    if not same:
        _checked_config(second_path, options.modes, ("second",))
    chosen = accelerators.choose(options.accel)
    progress(f"accelerator: {chosen.name} ({chosen.reason})")
    second = read_bytes(second_path)
    purgatory, name = _carried_purgatory(options.kernel)
    probe = _path_probe(purgatory, name or "purgatory.ro")
    init = initramfs.compile_init()
    work_directory(options.logs, "--logs")
    stem = os.path.join(options.logs, os.path.basename(options.kernel))
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="boot-test-") as tmp:
        for mode in options.modes:
            first, following = command_lines(options, mode)
            initrd = os.path.join(tmp, f"{mode}.cpio")
            write_atomically(initrd, initramfs.stage1_archive(
                init, mode, second, following,
                qemu.HOLD_SECONDS if probe else None))
            log = f"{stem}.{mode}.serial.log"
            progress(f"{mode}: booting under {chosen.name} (at most "
                     f"{options.timeout:.0f} s; serial log {log})")
            boot = qemu.boot(qemu.Machine(options.kernel, initrd, first,
                                          chosen.name, options.cpu,
                                          options.memory_mib, probe),
                             log, options.timeout, options.quiet)
            judged = verdict.judge(mode, boot, purgatory, name or "purgatory.ro")
            progress(judged.line())
            verdicts.append(judged)
    return Result(options.kernel, chosen, first_config.source, verdicts)
