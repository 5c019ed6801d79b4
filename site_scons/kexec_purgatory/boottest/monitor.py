# SPDX-License-Identifier: GPL-2.0-only
"""QEMU's machine protocol (QMP) on a Unix socket: stop the guest, read
its registers and its physical memory, quit.

``info registers`` goes through QMP's ``human-monitor-command``, which
answers in JSON: no prompt or terminal echo to strip as on the plain
monitor.  Every read has a deadline, so a wedged QEMU cannot hang us.
"""

import json
import re
import socket
import time

RIP = re.compile(r"\bRIP=([0-9a-fA-F]+)")
XP_VALUE = re.compile(r"^[0-9a-fA-F]+:\s+0x([0-9a-fA-F]+)\s*$", re.M)


class MonitorError(Exception):
    """QEMU's monitor did not answer as expected."""


class Monitor:
    """QEMU's QMP socket: what came in so far in ``buffer``, every failure
    a MonitorError naming the socket."""

    def __init__(self, path, timeout=5.0):
        self.path = path
        self.timeout = timeout
        self.sock = None
        self.buffer = b""

    def _receive(self):
        try:
            chunk = self.sock.recv(65536)
        except OSError as e:
            raise MonitorError(f"{self.path}: {e}") from None
        if not chunk:
            raise MonitorError(f"{self.path}: QEMU closed its monitor")
        self.buffer += chunk

    def _send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise MonitorError(f"{self.path}: {e}") from None

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def connect(self, deadline):
        """Connect (QEMU makes the socket when it starts) and leave the
        greeting's capability negotiation done."""
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(self.timeout)
                self.sock.connect(self.path)
                break
            except OSError:
                self.sock.close()
                self.sock = None
                if time.monotonic() > deadline:
                    raise MonitorError(f"{self.path}: QEMU's monitor socket "
                                       "did not appear") from None
                time.sleep(0.05)
        self._message()                       # the greeting
        self.command("qmp_capabilities")

    def _message(self):
        while b"\n" not in self.buffer:
            self._receive()
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def command(self, name, **arguments):
        message = {"execute": name}
        if arguments:
            message["arguments"] = arguments
        self._send(json.dumps(message).encode() + b"\n")
        while True:
            reply = self._message()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise MonitorError(f"{name}: {reply['error'].get('desc')}")
            # an event ("STOP", "RESUME", ...): not our answer

    def human(self, line):
        return self.command("human-monitor-command", **{"command-line": line})

    def stopped_rip(self):
        """The RIP of a stopped vCPU."""
        found = RIP.search(self.human("info registers"))
        if not found:
            raise MonitorError("info registers: no RIP in QEMU's answer")
        return int(found.group(1), 16)

    def rip(self):
        """The vCPU's RIP; the guest is stopped to read it and resumed."""
        self.command("stop")
        try:
            return self.stopped_rip()
        finally:
            self.command("cont")

    def physical(self, address, unit="b"):
        """The byte (``unit`` b) or 8-byte word (g) at guest physical
        ``address`` (``xp /1bx``, ``xp /1gx``)."""
        text = self.human(f"xp /1{unit}x {address:#x}")
        found = XP_VALUE.search(text)
        if not found:
            raise MonitorError(f"xp /1{unit}x {address:#x}: QEMU answered "
                               f"{text.strip()!r}")
        return int(found.group(1), 16)
