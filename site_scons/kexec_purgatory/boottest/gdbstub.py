# SPDX-License-Identifier: GPL-2.0-only
"""QEMU's GDB stub on a Unix socket: one breakpoint, to stop the guest at
an exact instruction (QMP and the human monitor have no breakpoints).

Only what boot-test needs of the GDB remote protocol: packets
``$DATA#CS`` with ``+`` acknowledgements, ``Z1`` (a hardware breakpoint;
under TCG QEMU treats it as its own, the guest's memory is not patched),
``c`` (continue; the answer is the stop reply ``T05...`` (SIGTRAP) when
the breakpoint is hit) and ``D`` (detach: QEMU removes the breakpoint and
lets the guest run).  QEMU stops the guest when a debugger connects
(gdbstub.c, gdb_chr_event), so the breakpoint is in place before the guest
runs again.  Every read has a deadline.
"""

import select
import socket

from .monitor import MonitorError, QemuSocket


def _packet(data):
    return b"$%s#%02x" % (data, sum(data) & 0xFF)


class GdbStub(QemuSocket):
    what = "GDB stub"

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        try:
            self.sock.connect(self.path)
        except OSError as e:
            self.close()
            raise MonitorError(f"{self.path}: QEMU's GDB stub: {e}") from None

    def _reply(self):
        """The next packet's data (acknowledged), skipping ``+`` acks."""
        while True:
            self.buffer = self.buffer.lstrip(b"+")
            start = self.buffer.find(b"$")
            end = self.buffer.find(b"#", start + 1) if start >= 0 else -1
            if end >= 0 and len(self.buffer) >= end + 3:
                data = self.buffer[start + 1:end]
                self.buffer = self.buffer[end + 3:]
                self._send(b"+")
                return data
            self._receive()

    def request(self, data):
        """Send ``data`` and expect OK; stop notices before the answer
        (QEMU sends ``T02`` when the connection stopped the guest) are
        not it."""
        self._send(_packet(data))
        reply = self._reply()
        while reply[:1] in (b"T", b"S"):
            reply = self._reply()
        if reply != b"OK":
            raise MonitorError(f"GDB stub: {data.decode()}: answered "
                               f"{reply.decode(errors='replace')!r}")

    def break_at(self, address):
        """A breakpoint at ``address``, then let the guest run."""
        self.request(b"Z1,%x,1" % address)
        self._send(_packet(b"c"))

    def stopped(self):
        """True once the stop reply to ``c`` came (SIGTRAP: the breakpoint
        was hit); does not wait.  Other stop notices (a late ``T02`` from
        the connection) are passed over."""
        while True:
            if b"$" not in self.buffer:
                readable, _, _ = select.select([self.sock], [], [], 0)
                if not readable:
                    return False
                self._receive()
                continue
            reply = self._reply()     # the rest of it follows at once
            if reply.startswith((b"T05", b"S05")):
                return True
            if reply[:1] not in (b"T", b"S"):
                raise MonitorError(f"GDB stub: unexpected stop reply "
                                   f"{reply.decode(errors='replace')!r}")

    def detach(self):
        """Remove the breakpoint and let the guest go on."""
        self.request(b"D")
