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

With a ``probe`` (this tree's purgatory, boottest/sha256_path.py) QEMU also
opens its GDB stub: once the loader's lines saying where it put the
purgatory and the kernel are in the log (stage 1 then holds
``HOLD_SECONDS`` before it jumps), a breakpoint goes at the new kernel's
entry; when it is hit, the path byte is read and the guest goes on.  A guest that stopped has its
byte read too; the verdict keeps it only if the RIP is in the purgatory.
"""

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from ..errors import UserError
from ..gdb_remote import SIGTRAP, Remote, RemoteError
from .monitor import Monitor, MonitorError

QEMU = "qemu-system-x86_64"
DEBUG_EXIT = "isa-debug-exit,iobase=0xf4,iosize=0x04"
# What init prints (init.c): jumping to the second kernel, stage 2 reached.
JUMP_MARK = b"kpboot: jumping"
STAGE2_MARK = b"kpboot: stage 2"
RIP_SAMPLES = 3
RIP_SAMPLE_GAP = 0.2
# How long stage 1 waits between the load and the jump when the SHA-256
# path is to be read (init.c reads it from /boottest/hold): time to set the
# breakpoint, which stops the guest while it is set.
HOLD_SECONDS = 1


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
    probe: object = None        # a sha256_path.Probe, or None


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
    # The SHA-256 path byte read at the hand-over (breakpoint hit), or in
    # the stopped guest at ``stopped_byte_address``; why not, if not.
    handover_byte: int | None = None
    stopped_byte: int | None = None
    stopped_byte_address: int | None = None
    sha256_path_note: str | None = None


def qemu_path():
    found = shutil.which(QEMU)
    if found is None:
        raise UserError(f"{QEMU}: not found (Debian: apt-get install "
                        "qemu-system-x86)")
    return found


def command(machine, serial_log, qmp_socket, gdb_socket=None):
    cpu = machine.cpu or ("host" if machine.accel == "kvm" else None)
    gdb = ["-gdb", f"unix:{gdb_socket},server=on,wait=off"] if gdb_socket \
        else []
    return [qemu_path(), "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-accel", machine.accel,
            *(["-cpu", cpu] if cpu else []),
            "-m", str(machine.memory_mib), "-smp", "1",
            "-kernel", machine.kernel, "-initrd", machine.initrd,
            "-append", machine.append,
            "-serial", f"file:{serial_log}",
            "-device", DEBUG_EXIT,
            "-qmp", f"unix:{qmp_socket},server=on,wait=off", *gdb]


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


class _PathReader:
    """The SHA-256 path byte of a probed purgatory, read only while the
    guest is known to be in it (boottest/sha256_path.py)."""

    def __init__(self, probe, gdb_socket, result):
        self.probe = probe
        self.gdb_socket = gdb_socket
        self.result = result
        self.addresses = None
        self.gdb = None

    def _note(self, text):
        self.result.sha256_path_note = text
        self._detach()

    def _detach(self):
        """Remove the breakpoint (QEMU keeps it when the debugger only
        goes away) and close the stub."""
        if self.gdb is None:
            return
        try:
            self.gdb.detach()
        except RemoteError:
            pass
        self.gdb.close()
        self.gdb = None

    def poll(self, text, monitor):
        if self.probe is None or monitor.sock is None:
            return
        try:
            if self.addresses is None:
                self._arm(text)
            # the breakpoint's SIGTRAP, without waiting; the T02 QEMU
            # sends when the debugger connects is passed over
            elif self.gdb is not None \
                    and self.gdb.wait_stop(0, signal=SIGTRAP) is not None:
                self._read_at_handover(monitor)
        except (MonitorError, RemoteError, UserError) as e:
            self._note(f"not read: {e}")
            self._resume(monitor)

    @staticmethod
    def _resume(monitor):
        """Let the guest go on (a debugger's connection stopped it)."""
        try:
            monitor.command("cont")
        except MonitorError:
            pass

    def _arm(self, text):
        self.addresses = self.probe.find(text.decode("utf-8", "replace"))
        if self.addresses is None:
            return
        if JUMP_MARK in text:
            raise MonitorError("stage 1 jumped before the breakpoint was set")
        # QEMU stops the guest when a debugger connects (gdbstub.c,
        # gdb_chr_event), so the breakpoint is in place before it runs on.
        self.gdb = Remote(self.gdb_socket, timeout=5.0)
        self.gdb.breakpoint(self.addresses.handover, 1, hardware=True)
        self.gdb.resume()

    def _read_at_handover(self, monitor):
        try:
            rip = monitor.stopped_rip()
            target = monitor.physical(self.addresses.rip_slot, "g")
            if rip != self.addresses.handover or target != rip:
                raise MonitorError(
                    f"the guest stopped at RIP {rip:#x}; the breakpoint is at "
                    f"{self.addresses.handover:#x}, the purgatory's "
                    f"entry64_regs.rip says {target:#x}")
            self.result.handover_byte = monitor.physical(self.addresses.byte)
        finally:
            self._detach()
            self._resume(monitor)

    def read_stopped(self, monitor):
        """The byte in a guest that stopped (its RIP steady)."""
        if self.addresses is None or monitor.sock is None:
            return
        try:
            monitor.command("stop")
            self.result.stopped_byte = monitor.physical(self.addresses.byte)
            self.result.stopped_byte_address = self.addresses.byte
        except MonitorError as e:
            self._note(f"not read: {e}")

    def finish(self):
        if self.gdb is not None and self.result.handover_byte is None \
                and self.result.sha256_path_note is None:
            self._note("the purgatory did not reach its hand-over to the "
                       "kernel while watched")
        self._detach()


def boot(machine, serial_log, timeout, quiet):
    """Run ``machine`` once; the serial log goes to ``serial_log`` and QEMU's
    own output beside it (``.qemu.log``)."""
    base = serial_log[:-len(".serial.log")] if serial_log.endswith(".serial.log") \
        else serial_log
    qemu_log = base + ".qemu.log"
    if os.path.exists(serial_log):
        os.unlink(serial_log)
    # QEMU's sockets live in a short private directory, not beside the logs:
    # a Unix socket's path must be under 108 bytes (sun_path).
    sockets = tempfile.mkdtemp(prefix="kp-boot-")
    qmp_socket = os.path.join(sockets, "qmp")
    gdb_socket = os.path.join(sockets, "gdb") if machine.probe is not None else None
    argv = command(machine, serial_log, qmp_socket, gdb_socket)
    started = time.monotonic()
    with open(qemu_log, "wb") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT)
    monitor = Monitor(qmp_socket)
    result = Boot(serial_log, qemu_log, "timeout", 0.0)
    path_reader = _PathReader(machine.probe, gdb_socket, result)
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
            path_reader.poll(watch.text, monitor)
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
                    path_reader.read_stopped(monitor)
                    break
                watch.changed = time.monotonic()
            time.sleep(0.05)
    finally:
        result.seconds = time.monotonic() - started
        path_reader.finish()
        _end(process, monitor)
        shutil.rmtree(sockets, ignore_errors=True)
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
