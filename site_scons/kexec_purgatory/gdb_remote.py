# SPDX-License-Identifier: GPL-2.0-only
"""A minimal client of GDB's remote serial protocol, to drive QEMU's gdbstub.

Shared by ``emulate/ppc64le.py`` (a target started halted with ``-S``:
memory, registers, breakpoints, continue, a stop within a deadline) and
``boottest/qemu.py`` (connect to a running guest, one breakpoint, poll for
its hit without waiting, detach).  No gdb binary is needed (nor parsed);
the protocol is GDB's documented packet format ``$data#checksum`` with
``+`` acknowledgements.  Every wait has a deadline, and every failure
(a refusal, a closed socket, a timeout) is a RemoteError naming the socket.

QEMU sends a stop notice of its own (``T02``, SIGINT) when a debugger
connects to a running guest (gdbstub.c, gdb_chr_event stops the VM and
gdb_vm_state_change reports it); it can come before or after the answer to
the first packet, so answers skip stop notices and ``wait_stop`` can be
told which signal it waits for.
"""

import select
import socket
import time

SIGINT, SIGTRAP = 2, 5


class RemoteError(Exception):
    """The stub answered with an error, closed the connection or timed out."""


def _framed(data):
    return b"$%s#%02x" % (data, sum(data) & 0xff)


def _is_stop(reply):
    """A stop reply packet: a signal (``S``, ``T``), an exit (``W``, ``X``)."""
    return reply[:1] in (b"S", b"T", b"W", b"X")


def _signal(reply):
    """The signal of an ``S``/``T`` stop reply, else None."""
    if reply[:1] in (b"S", b"T") and len(reply) >= 3:
        try:
            return int(reply[1:3], 16)
        except ValueError:
            return None
    return None


class Remote:
    """One connection to QEMU's gdbstub on a Unix socket (``path``; a
    leading NUL names an abstract socket).  Connecting retries until the
    socket appears, at most ``timeout`` seconds; each answer is awaited at
    most ``timeout`` seconds too."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.name = "@" + path[1:] if path.startswith("\0") else path
        self.timeout = timeout
        self.buffer = b""
        self.last = None
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError) as error:
                # QEMU has not opened it yet
                self.sock.close()
                if time.monotonic() > deadline:
                    self.sock = None
                    raise RemoteError(f"{self.name}: no gdbstub after "
                                      f"{timeout:g} s ({error.strerror})") from None
                time.sleep(0.005)   # QEMU listens within ~50 ms
            except OSError as error:
                self.sock.close()
                self.sock = None
                raise RemoteError(f"{self.name}: {error.strerror or error}") from None

    def _error(self, text):
        return RemoteError(f"{self.name}: {text}")

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _send(self, data):
        if self.sock is None:
            raise self._error("not connected")
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise self._error(error.strerror or str(error)) from None

    def _fill(self, deadline):
        """Wait for more bytes until ``deadline``; False if none came."""
        if self.sock is None:
            raise self._error("not connected")
        remaining = max(0.0, deadline - time.monotonic())
        try:
            readable, _, _ = select.select([self.sock], [], [], remaining)
            if not readable:
                return False
            chunk = self.sock.recv(65536)
        except OSError as error:
            raise self._error(error.strerror or str(error)) from None
        if not chunk:
            raise self._error("the gdbstub closed the connection")
        self.buffer += chunk
        return True

    def _packet(self, deadline):
        """The next whole packet's payload (acknowledged), or None once
        ``deadline`` passed; a partial packet stays in the buffer for the
        next call.  Acknowledgements before it are consumed, a ``-``
        (checksum refused) sends the last packet again."""
        while True:
            start = self.buffer.find(b"$")
            acks = self.buffer if start < 0 else self.buffer[:start]
            self.buffer = self.buffer[len(acks):]
            if b"-" in acks and self.last is not None:
                self._send(self.last)
            end = self.buffer.find(b"#")
            if end >= 0 and len(self.buffer) >= end + 3:
                payload = self.buffer[1:end]
                self.buffer = self.buffer[end + 3:]
                self._send(b"+")
                return payload
            if not self._fill(deadline):
                return None

    def send(self, payload):
        """Send one packet; its answer is read by ``command`` or ``wait_stop``."""
        data = payload.encode() if isinstance(payload, str) else payload
        self.last = _framed(data)
        self._send(self.last)

    def command(self, payload):
        """Send ``payload`` and return its answer: stop notices that come
        first are not it; ``Exx`` is a RemoteError."""
        self.send(payload)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._packet(deadline)
            if reply is None:
                raise self._error(f"'{str(payload)[:40]}': no answer within "
                                  f"{self.timeout:g} s")
            if reply[:1] not in (b"S", b"T"):
                break
        if reply.startswith(b"E") and len(reply) == 3:
            raise self._error(f"'{str(payload)[:40]}' failed: {reply.decode()}")
        return reply

    def request(self, payload):
        """``command`` for a packet whose answer is ``OK`` (an empty answer:
        the stub does not support it)."""
        reply = self.command(payload)
        if reply != b"OK":
            raise self._error(f"'{str(payload)[:40]}': answered "
                              f"{reply.decode(errors='replace')!r}")

    def load_target_description(self):
        """QEMU answers ``p``/``P`` only to a client that read its target
        description; its ``g`` asserts on ppc64 (7.2), so it is not used."""
        self.command("qXfer:features:read:target.xml:0,ffb")

    def read_memory(self, address, size):
        data = bytearray()
        while len(data) < size:
            chunk = min(size - len(data), 1024)
            reply = self.command(f"m{address + len(data):x},{chunk:x}")
            try:
                data += bytes.fromhex(reply.decode())
            except ValueError:
                raise self._error(f"m{address + len(data):x}: answered "
                                  f"{reply[:40]!r}") from None
        return bytes(data)

    def write_memory(self, address, data):
        for offset in range(0, len(data), 1024):
            chunk = data[offset:offset + 1024]
            self.request(f"M{address + offset:x},{len(chunk):x}:{chunk.hex()}")

    def read_register(self, number):
        reply = self.command(f"p{number:x}")
        try:
            return bytes.fromhex(reply.decode())
        except ValueError:
            raise self._error(f"p{number:x}: answered {reply[:40]!r}") from None

    def write_register(self, number, raw):
        self.request(f"P{number:x}={raw.hex()}")

    def breakpoint(self, address, kind, hardware=False):
        """A software (``Z0``) or hardware (``Z1``; under TCG QEMU keeps it
        itself and the guest's memory is not patched) breakpoint; ``kind``
        is the instruction's size for the architecture."""
        self.request(f"Z{1 if hardware else 0},{address:x},{kind:x}")

    def resume(self):
        """Continue (``c``); the stop reply is read by ``wait_stop``."""
        self.send("c")

    def wait_stop(self, timeout, signal=None):
        """The stop reply after ``resume``, or None after ``timeout`` s
        (0: only what already came, without waiting).  With ``signal``,
        stop notices of other signals are passed over and any other stop
        (an exit) is a RemoteError."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self._packet(deadline)
            if reply is None:
                return None
            if not _is_stop(reply):
                raise self._error(f"unexpected stop reply "
                                  f"{reply[:40].decode(errors='replace')!r}")
            if signal is None or _signal(reply) == signal:
                return reply
            if _signal(reply) is None:
                raise self._error(f"the target stopped: "
                                  f"{reply[:40].decode(errors='replace')!r}")

    def interrupt(self, then=None):
        """Stop a running target (Ctrl-C), calling ``then`` once it is
        asked; its stop reply."""
        self._send(b"\x03")
        if then is not None:
            then()
        reply = self.wait_stop(self.timeout)
        if reply is None:
            raise self._error(f"no stop within {self.timeout:g} s of an interrupt")
        return reply

    def detach(self):
        """``D``: QEMU removes the breakpoints and lets the target run."""
        self.request("D")
        self.close()

    def kill(self):
        """``k``, no answer awaited (QEMU exits), then close."""
        try:
            self.send("k")
        except RemoteError:
            pass
        self.close()
