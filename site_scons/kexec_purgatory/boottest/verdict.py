# SPDX-License-Identifier: GPL-2.0-only
"""Reading one path's serial log (and the RIP samples) into a verdict a
person can act on: one line, e.g. ``normal: ok (2.6 s)``, ``crash: refused
at load: ENOEXEC "kexec: Unknown rela relocation: 41"``, ``normal: jumped,
then stopped in the purgatory at +0x141 (purgatory_verify_digest)``.

The log interleaves the kernel's lines (with or without a printk
timestamp) and init's ``kpboot:`` lines (init.c).  The kernel's line for a
refused load is the first line of the kexec code (``kexec:``,
``kexec_file:``, ``kexec-bzImage64:``) or of lockdown between init's
``loading`` and ``load failed`` that is not one of the loader's progress
lines: the first says why, the later ones what failed in consequence
(``kexec-bzImage64: Loading purgatory failed``).

For this tree's purgatory the line also says which SHA-256 path it took,
when that could be read while the guest was provably in the purgatory
(boottest/sha256_path.py): ``normal: ok (6.4 s); SHA-256 path bmi2, read at
the jump to the kernel (entry64)``.
"""

import re
from dataclasses import asdict, dataclass

from ..errors import UserError
from . import sha256_path
from .placement import LOADED_PURGATORY, place

TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
LOAD_FAILED = re.compile(r"^kpboot: load failed: (\S+)")
CPU_FLAGS = "kpboot: cpu flags: "
KERNEL_LINE = re.compile(r"^(kexec[\w-]*|Lockdown): ")
# The loader's pr_debug progress lines (kexec_file.c, kexec-bzimage64.c,
# machine_kexec_64.c): never the reason for a refusal.
PROGRESS = re.compile(
    r"^(kexec[\w-]*): (Loaded |Loading segment|Final command line|It's a "
    r"relocatable|Applying relocate section|Symbol: |kernel signature "
    r"verification failed|kernel loader does not support|Crash PT_LOAD)")

# Outcomes: exit 0 needs every path "ok"; "unusable" means the test could
# not run (exit 2), anything else is a failure (exit 1).
OK, FAILED, UNUSABLE = "ok", "failed", "unusable"


@dataclass
class Verdict:
    mode: str
    outcome: str
    text: str
    seconds: float
    serial_log: str
    errno: str | None = None
    kernel_line: str | None = None
    rip: int | None = None
    purgatory_address: int | None = None
    cpu_flags: list | None = None       # the first kernel's /proc/cpuinfo
    sha256_path: str | None = None      # abi/x86_64.py SHA256_PATHS
    sha256_path_read: str | None = None     # when it was read
    sha256_path_note: str | None = None     # why not, if not

    def line(self):
        if self.sha256_path is not None:
            extra = (f"; SHA-256 path {self.sha256_path}, read "
                     f"{self.sha256_path_read}")
        elif self.sha256_path_note is not None:
            extra = f"; SHA-256 path {self.sha256_path_note}"
        else:
            extra = ""
        return f"{self.mode}: {self.text}{extra}"

    def as_json(self):
        return asdict(self)


def log_lines(data):
    text = data.decode("utf-8", "replace").replace("\r", "")
    return [TIMESTAMP.sub("", line) for line in text.split("\n")]


def _index(lines, prefix, start=0):
    return next((i for i in range(start, len(lines))
                 if lines[i].startswith(prefix)), None)


def _last_line(path):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no output)"
    return next((line for line in reversed(text.splitlines()) if line.strip()),
                "(no output)")


def kernel_line(lines):
    """The kernel's own reason among ``lines``, or None."""
    found = [line for line in lines
             if KERNEL_LINE.match(line) and not PROGRESS.match(line)]
    return found[0] if found else None


def purgatory_address(lines):
    for line in lines:
        found = LOADED_PURGATORY.search(line)
        if found:
            return int(found.group(1), 16)
    return None


def _refused(verdict, lines, loading, failed):
    errno = LOAD_FAILED.match(lines[failed]).group(1)
    reason = kernel_line(lines[loading:failed])
    verdict.errno, verdict.kernel_line = errno, reason
    if errno == "ENOSYS":
        verdict.outcome = UNUSABLE
        verdict.text = ("kexec_file_load: ENOSYS: the kernel was built "
                        "without KEXEC_FILE")
    elif errno == "EPERM" and reason and (reason.startswith("Lockdown")
                                         or "signature" in reason):
        verdict.text = f"signature refused: EPERM ({reason})"
    else:
        verdict.text = (f"refused at load: {errno} "
                        + (f'"{reason}"' if reason else
                           "(no kernel line about it in the log)"))
    return verdict


def _stuck(verdict, lines, boot, purgatory, name):
    address = purgatory_address(lines)
    verdict.purgatory_address = address
    if not boot.rips:
        why = f" ({boot.monitor_error})" if boot.monitor_error else ""
        verdict.text = (f"jumped, then no second kernel within "
                        f"{boot.seconds:.0f} s, RIP not read{why}")
        return verdict
    rip = verdict.rip = boot.rips[-1]
    if address is None or purgatory is None:
        missing = ("no 'Loaded purgatory at' line in the log (dynamic debug "
                   "off?)" if address is None else "no purgatory object to "
                   "place it with")
        verdict.text = f"jumped, then stopped at RIP {rip:#x} ({missing})"
        return verdict
    try:
        spot = place(purgatory, name, address, rip)
    except UserError as e:
        verdict.text = f"jumped, then stopped at RIP {rip:#x} (not placed: {e})"
        return verdict
    still = "stopped" if boot.end == "stopped" else \
        f"still running after {boot.seconds:.0f} s"
    if spot is None:
        verdict.text = (f"jumped, then {still} at RIP {rip:#x}, outside the "
                        f"purgatory loaded at {address:#x}: no second kernel")
    else:
        verdict.text = f"jumped, then {still} in the purgatory at {spot.text()}"
        if boot.stopped_byte is not None:
            verdict.sha256_path = sha256_path.name_of(boot.stopped_byte)
            verdict.sha256_path_read = sha256_path.READ_STOPPED
    return verdict


def _sha256_path(verdict, boot):
    """The path read at the hand-over to the kernel, else why not."""
    if boot.handover_byte is not None:
        verdict.sha256_path = sha256_path.name_of(boot.handover_byte)
        verdict.sha256_path_read = sha256_path.READ_AT_HANDOVER
    elif verdict.sha256_path is None:
        verdict.sha256_path_note = boot.sha256_path_note
        if boot.stopped_byte is not None and verdict.sha256_path_note is None:
            verdict.sha256_path_note = ("not read: the guest did not stop in "
                                        "the purgatory")
    return verdict


def judge(mode, boot, purgatory=None, name="purgatory.ro"):
    """The Verdict of one path from its Boot (boottest/qemu.py);
    ``purgatory`` (purgatory.ro's bytes, the one the first kernel carries)
    places a stopped RIP."""
    return _sha256_path(_judged(mode, boot, purgatory, name), boot)


def _judged(mode, boot, purgatory, name):
    verdict = Verdict(mode, FAILED, "", round(boot.seconds, 1), boot.serial_log)
    try:
        with open(boot.serial_log, "rb") as f:
            lines = log_lines(f.read())
    except FileNotFoundError:
        lines = []
    if not any(lines) and boot.end == "exited" and boot.exit_status:
        verdict.outcome = UNUSABLE
        verdict.text = (f"QEMU failed ({boot.exit_status}): "
                        f"{_last_line(boot.qemu_log)}")
        return verdict
    flags = _index(lines, CPU_FLAGS)
    if flags is not None:
        verdict.cpu_flags = lines[flags][len(CPU_FLAGS):].split()
    stage1 = _index(lines, "kpboot: stage 1")
    if stage1 is None:
        last = next((line for line in reversed(lines) if line.strip()), "")
        verdict.text = (f"the first kernel did not reach init in "
                        f"{boot.seconds:.0f} s (last line: {last.strip()!r})")
        return verdict
    loading = _index(lines, "kpboot: loading", stage1) or stage1
    failed = _index(lines, "kpboot: load failed", stage1)
    if failed is not None:
        return _refused(verdict, lines, loading, failed)
    ok = _index(lines, "kpboot: stage 2 ok", stage1)
    if ok is not None:
        verdict.outcome = OK
        verdict.text = f"ok ({boot.seconds:.1f} s)"
        return verdict
    bad = _index(lines, "kpboot: stage 2 failed", stage1)
    if bad is not None:
        verdict.text = ("the second kernel started, but "
                        + lines[bad][len("kpboot: "):])
        return verdict
    if _index(lines, "kpboot: jump failed", stage1) is not None:
        verdict.text = "loaded, but " + lines[_index(lines, "kpboot: jump failed")][8:]
        return verdict
    jumped = _index(lines, "kpboot: jumping", stage1)
    if jumped is None:
        verdict.text = f"stage 1 did not finish in {boot.seconds:.0f} s"
        return verdict
    second = _index(lines, "Linux version", jumped)
    if second is not None:
        verdict.text = (f"jumped; the second kernel started but did not reach "
                        f"stage 2 in {boot.seconds:.0f} s")
        return verdict
    return _stuck(verdict, lines, boot, purgatory, name)
