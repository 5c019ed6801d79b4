# SPDX-License-Identifier: GPL-2.0-only
"""A minimal client of GDB's remote serial protocol, to drive QEMU's gdbstub.

Only what a run needs: read and write memory and single registers, read
the core register block, set breakpoints, continue and wait for the stop
with a deadline, interrupt, kill. No gdb binary is needed (nor parsed);
the protocol is GDB's documented packet format ``$data#checksum`` with
``+`` acknowledgements.
"""

import socket
import time


class RemoteError(Exception):
    """The stub answered with an error, closed the connection or timed out."""


def _checksum(data):
    return sum(data) & 0xff


class Remote:
    """One connection to a stopped target (QEMU started with -S)."""

    def __init__(self, path, connect_timeout=10.0):
        deadline = time.monotonic() + connect_timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                # QEMU has not opened it yet
                self.sock.close()
                if time.monotonic() > deadline:
                    raise RemoteError(f"no gdbstub at {path} after "
                                      f"{connect_timeout:.0f} s") from None
                time.sleep(0.05)
        self.buffer = b""
        # QEMU answers p/P only to a client that read its target
        # description; its 'g' asserts on ppc64 (7.2), so it is not used.
        self.command("qXfer:features:read:target.xml:0,ffb")

    def close(self):
        self.sock.close()

    def _read_byte(self, deadline):
        while not self.buffer:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError from None
            if not chunk:
                raise RemoteError("the gdbstub closed the connection")
            self.buffer += chunk
        byte, self.buffer = self.buffer[:1], self.buffer[1:]
        return byte

    def send(self, payload):
        data = payload.encode() if isinstance(payload, str) else payload
        self.sock.sendall(b"$" + data + b"#%02x" % _checksum(data))
        while True:
            ack = self._read_byte(time.monotonic() + 10)
            if ack == b"+":
                return
            if ack == b"-":
                self.sock.sendall(b"$" + data + b"#%02x" % _checksum(data))

    def receive(self, deadline=None):
        """The next packet's payload (TimeoutError after ``deadline``)."""
        while self._read_byte(deadline) != b"$":
            pass
        payload = bytearray()
        while (byte := self._read_byte(deadline)) != b"#":
            payload += byte
        self._read_byte(deadline), self._read_byte(deadline)     # checksum
        self.sock.sendall(b"+")
        return bytes(payload)

    def command(self, payload):
        self.send(payload)
        reply = self.receive(time.monotonic() + 10)
        if reply.startswith(b"E") and len(reply) == 3:
            raise RemoteError(f"'{payload[:40]}' failed: {reply.decode()}")
        return reply

    def read_memory(self, address, size):
        data = bytearray()
        while len(data) < size:
            chunk = min(size - len(data), 1024)
            data += bytes.fromhex(self.command(f"m{address + len(data):x},{chunk:x}").decode())
        return bytes(data)

    def write_memory(self, address, data):
        for offset in range(0, len(data), 1024):
            chunk = data[offset:offset + 1024]
            self.command(f"M{address + offset:x},{len(chunk):x}:{chunk.hex()}")

    def read_register(self, number):
        return bytes.fromhex(self.command(f"p{number:x}").decode())

    def write_register(self, number, raw):
        self.command(f"P{number:x}={raw.hex()}")

    def breakpoint(self, address):
        self.command(f"Z0,{address:x},4")

    def resume(self):
        self.send("c")

    def wait_stop(self, timeout):
        """The stop reply after ``resume``, or None after ``timeout`` s."""
        try:
            return self.receive(time.monotonic() + timeout)
        except TimeoutError:
            return None

    def interrupt(self, then=None):
        """Stop a running target (Ctrl-C), calling ``then`` once it is
        asked; its stop reply."""
        self.sock.sendall(b"\x03")
        if then is not None:
            then()
        return self.receive(time.monotonic() + 10)

    def kill(self):
        try:
            self.sock.sendall(b"$k#6b")
        except OSError:
            pass
        self.close()
