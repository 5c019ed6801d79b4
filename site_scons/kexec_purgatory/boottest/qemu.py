# SPDX-License-Identifier: GPL-2.0-only
"""One boot of a kernel in qemu-system-x86_64, watched until it ends.

QEMU runs with no default devices, no display, ``-no-reboot`` (a reset
ends it), the serial port written to a log file, ``isa-debug-exit`` (the
guest's init ends QEMU at once) and a QMP socket.  The watch ends when QEMU
exits, when the whole timeout passes, or when the guest went quiet after
stage 1 jumped (no new serial output for ``quiet`` seconds) and the
vCPU's RIP, read a few times through the monitor, stays put: a purgatory
spinning in its digest-mismatch loop.  A RIP that still moves (the new
kernel decompressing, the digest still running) lets the watch go on.
QEMU is always ended (QMP ``quit``, else killed) before this returns.
"""

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field

from ..errors import UserError
from .monitor import Monitor, MonitorError

QEMU = "qemu-system-x86_64"
DEBUG_EXIT = "isa-debug-exit,iobase=0xf4,iosize=0x04"
# What init prints (init.c): jumping to the second kernel, stage 2 reached.
JUMP_MARK = b"kpboot: jumping"
STAGE2_MARK = b"kpboot: stage 2"
RIP_SAMPLES = 3
RIP_SAMPLE_GAP = 0.2


@dataclass
class Machine:
    """What QEMU is asked to run: ``cpu`` None leaves QEMU's default
    (``host`` under KVM)."""
    kernel: str
    initrd: str
    append: str
    accel: str
    cpu: str | None = None
    memory_mib: int = 1024


@dataclass
class Boot:
    """How one boot ended: ``end`` is "exited", "stopped" (quiet after the
    jump with a steady RIP) or "timeout"; ``rips`` the RIP samples read."""
    serial_log: str
    qemu_log: str
    end: str
    seconds: float
    exit_status: int | None = None
    rips: list = field(default_factory=list)
    monitor_error: str | None = None


def qemu_path():
    found = shutil.which(QEMU)
    if found is None:
        raise UserError(f"{QEMU}: not found (Debian: apt-get install "
                        "qemu-system-x86)")
    return found


def command(machine, serial_log, qmp_socket):
    cpu = machine.cpu or ("host" if machine.accel == "kvm" else None)
    return [qemu_path(), "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-accel", machine.accel,
            *(["-cpu", cpu] if cpu else []),
            "-m", str(machine.memory_mib), "-smp", "1",
            "-kernel", machine.kernel, "-initrd", machine.initrd,
            "-append", machine.append,
            "-serial", f"file:{serial_log}",
            "-device", DEBUG_EXIT,
            "-qmp", f"unix:{qmp_socket},server=on,wait=off"]


def _steady_rips(monitor):
    rips = []
    for i in range(RIP_SAMPLES):
        if i:
            time.sleep(RIP_SAMPLE_GAP)
        rips.append(monitor.rip())
    return rips


class _Watch:
    """The serial log as it grows: when it last grew, which marks it holds."""

    def __init__(self, path):
        self.path = path
        self.size = 0
        self.changed = time.monotonic()
        self.text = b""

    def poll(self):
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return
        if size != self.size:
            with open(self.path, "rb") as f:
                self.text = f.read()
            self.size = size
            self.changed = time.monotonic()

    def jumped(self):
        return JUMP_MARK in self.text and STAGE2_MARK not in self.text


def boot(machine, serial_log, timeout, quiet):
    """Run ``machine`` once; the serial log goes to ``serial_log`` and QEMU's
    own output beside it (``.qemu.log``)."""
    base = serial_log[:-len(".serial.log")] if serial_log.endswith(".serial.log") \
        else serial_log
    qemu_log = base + ".qemu.log"
    qmp_socket = base + ".qmp"
    for stale in (serial_log, qmp_socket):
        if os.path.exists(stale):
            os.unlink(stale)
    argv = command(machine, serial_log, qmp_socket)
    started = time.monotonic()
    with open(qemu_log, "wb") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT)
    monitor = Monitor(qmp_socket)
    result = Boot(serial_log, qemu_log, "timeout", 0.0)
    try:
        try:
            monitor.connect(started + 10)
        except MonitorError as e:
            result.monitor_error = str(e)
        watch = _Watch(serial_log)
        while True:
            if process.poll() is not None:
                result.end = "exited"
                break
            now = time.monotonic()
            watch.poll()
            if now - started >= timeout:
                if monitor.sock is not None and watch.jumped():
                    try:
                        result.rips = [monitor.rip()]
                    except MonitorError as e:
                        result.monitor_error = str(e)
                break
            if (watch.jumped() and now - watch.changed >= quiet
                    and monitor.sock is not None):
                try:
                    result.rips = _steady_rips(monitor)
                except MonitorError as e:
                    result.monitor_error = str(e)
                    monitor.close()
                if len(set(result.rips)) == 1:
                    result.end = "stopped"
                    break
                watch.changed = time.monotonic()
            time.sleep(0.05)
    finally:
        result.seconds = time.monotonic() - started
        _end(process, monitor)
        if os.path.exists(qmp_socket):
            os.unlink(qmp_socket)
    if result.end == "exited":
        result.exit_status = process.returncode
    return result


def _end(process, monitor):
    if process.poll() is None and monitor.sock is not None:
        try:
            monitor.command("quit")
        except MonitorError:
            pass
    monitor.close()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
