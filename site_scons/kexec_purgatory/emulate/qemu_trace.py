# SPDX-License-Identifier: GPL-2.0-only
"""Follow a QEMU guest through its ``-d in_asm,exec,nochain,int`` log.

QEMU writes the log into a FIFO that a thread here reads while the guest
runs, so nothing unbounded lands on disk and QEMU waits when the reader
falls behind. ``in_asm`` lists each translation block's instructions once,
``exec`` with ``nochain`` names every block executed: their product is the
exact instruction count (no per-instruction hook exists in QEMU without
plugins, which Debian does not ship). The reader also notes where the guest
first left a given range of code (the purgatory's image: "where it jumps")
and the first interrupt QEMU logs (``int``).

A copy of the log is kept for the report: its first ``HEAD_BYTES`` and
its last ``TAIL_LINES`` lines.
"""

import collections
import re
import threading

HEAD_BYTES = 4 << 20
TAIL_LINES = 2000
_INSTRUCTION = re.compile(r"0x([0-9a-f]+):\s+[0-9a-f]{8}\s+(.*?)\s*$")
_TRACE = re.compile(r"Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")


class TraceReader(threading.Thread):
    """Reads the log at ``fifo`` until QEMU closes it; copies it to
    ``copy_path``. ``inside`` is the (start, end) of the code being
    followed; ``limit`` the instruction count at which ``over_limit`` is
    set."""

    def __init__(self, fifo, copy_path, inside, limit):
        super().__init__(daemon=True)
        self.fifo, self.copy_path = fifo, copy_path
        self.inside, self.limit = inside, limit
        self.instructions = 0
        self.blocks = {}            # pc -> (count, (address, text) of its last)
        self.was_inside = False
        self.left = None            # (address, text of the last instruction, target)
        self.last_block = None      # pc of the last block executed
        self.interrupt = None       # first "int" line
        self.over_limit = threading.Event()
        # Set by whoever stops QEMU after over_limit: until then the reader
        # holds still, so QEMU soon blocks on the full FIFO and stops close
        # to the limit instead of running on while the stop is on its way.
        self.drain = threading.Event()
        self._block = None

    def run(self):
        head = 0
        tail = collections.deque(maxlen=TAIL_LINES)
        left_out = 0
        with open(self.fifo, "rb") as log, open(self.copy_path, "w") as copy:
            for raw in log:
                line = raw.decode("ascii", "replace")
                self._parse(line)
                if head < HEAD_BYTES:
                    copy.write(line)
                    head += len(line)
                else:
                    if len(tail) == tail.maxlen:
                        left_out += 1
                    tail.append(line)
            if left_out:
                copy.write(f"[... {left_out} lines left out ...]\n")
            copy.writelines(tail)

    def _parse(self, line):
        if self._block is not None:
            match = _INSTRUCTION.match(line)
            if match:
                address = int(match.group(1), 16)
                self._block.append((address, match.group(2)))
                return
            if self._block:
                self.blocks[self._block[0][0]] = (len(self._block), self._block[-1])
            self._block = None
        if line.startswith("IN:"):
            self._block = []
            return
        match = _TRACE.match(line)
        if match:
            self._executed(int(match.group(1), 16))
        elif self.interrupt is None and self._is_interrupt(line):
            self.interrupt = line.strip()

    @staticmethod
    def _is_interrupt(line):
        return line.startswith(("Raise exception", "Machine check", "Program"))

    def _executed(self, pc):
        count, _ = self.blocks.get(pc, (0, None))
        self.instructions += count
        start, end = self.inside
        if start <= pc < end:
            self.was_inside = True
        elif self.was_inside and self.left is None and self.last_block is not None:
            last = self.blocks.get(self.last_block, (0, (self.last_block, "?")))[1]
            self.left = (*last, pc)
        self.last_block = pc
        if self.instructions > self.limit and not self.over_limit.is_set():
            self.over_limit.set()
            self.drain.wait(30)

    def left_for(self, target):
        """Note a departure QEMU stopped before executing (a breakpoint
        at ``target``): the block last executed is where it left."""
        if self.left is None and self.last_block is not None:
            last = self.blocks.get(self.last_block, (0, (self.last_block, "?")))[1]
            self.left = (*last, target)
