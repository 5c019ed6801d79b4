# SPDX-License-Identifier: GPL-2.0-only
"""The emulated runs behind ``scons test-run``.

The kernel places the purgatory top-down anywhere from 0x3000 up, so it
must work low in memory, just above 4 GiB (where any 32-bit absolute
relocation breaks) and far up (above 2^40). At each of those addresses one
run must enter the new kernel, and one with the last byte of the last
segment flipped (a purgatory that stops hashing early misses it) must
refuse. An address this Unicorn cannot emulate (above 1 TiB with Debian
12's 2.0.1) is skipped with a line saying why, and recorded as skipped.
"""

import json
from dataclasses import dataclass

from . import emulator, segments
from ..errors import UserError

from .. import abi

ADDRESSES = abi.x86_64.TEST_ADDRESSES


@dataclass(frozen=True)
class PlannedRun:
    address: int
    corruption: tuple = None     # (segment name, offset) or None

    def command(self, path, spec=segments.DEFAULT_SPEC):
        """The same run as a ``kexec-purgatory`` command line."""
        corrupt = (f" --corrupt {self.corruption[0]}:{self.corruption[1]:#x}"
                   if self.corruption else "")
        segs = f" --segments {spec}" if spec != segments.DEFAULT_SPEC else ""
        return f"kexec-purgatory run --addr {self.address:#x}{segs}{corrupt} {path}"


def plan(spec=segments.DEFAULT_SPEC, addresses=ADDRESSES):
    last = segments.parse_spec(spec)[-1]
    runs = []
    for address in addresses:
        runs.append(PlannedRun(address))
        runs.append(PlannedRun(address, (last.name, last.size - 1)))
    return runs


def where(path, planned):
    text = f"{path} @{planned.address:#x}"
    if planned.corruption:
        text += f" corrupt {planned.corruption[0]}:{planned.corruption[1]:#x}"
    return text


def summary(path, planned, result):
    """One Kbuild-style line for a run."""
    figures = ""
    if result.instructions_per_byte is not None:
        figures = (f" [{result.instructions} instructions, "
                   f"{result.instructions_per_byte:.2f}/byte]")
    verdict = "ok" if result.passed else "FAILED"
    return f"  RUN     {where(path, planned)}: {verdict}: {result.message}{figures}"


def run_all(data, path, out=print, spec=segments.DEFAULT_SPEC, addresses=None):
    """Every planned run of the purgatory in ``data`` (at ``addresses``,
    default the architecture's three test addresses); prints a line each
    and returns the JSON report, or raises UserError (exit status 1)
    naming the commands that repeat the runs that failed."""
    results, failed = [], []
    module = emulator.machine_abi_of(data, path)
    if addresses is None:
        addresses = module.TEST_ADDRESSES
    refused = emulator.cannot_run_here(module, path)
    if refused:             # asked for runs: unlike the gate, not a skip
        raise UserError(f"{path}: {refused}")
    for planned in plan(spec, addresses):
        why_not = emulator.cannot_run_here(module, path, planned.address)
        if why_not:
            out(f"  RUN     {where(path, planned)}: skipped: {why_not}")
            results.append({"address": planned.address,
                            "corruption": planned.corruption,
                            "skipped": why_not})
            continue
        result = emulator.run(data, path, planned.address, spec,
                              corruption=planned.corruption)
        out(summary(path, planned, result))
        results.append(result.as_dict())
        if not result.passed:
            failed.append(planned.command(path, spec))
    if failed:
        raise UserError(f"{path}: failed in emulation: " + "; ".join(failed),
                        exit_code=1)
    return json.dumps(results, indent=1, sort_keys=True) + "\n"


# The build's RUN gate: the lowest and the highest test address, each
# entering the kernel and refusing a corrupted segment, with segments small
# enough (17 KiB hashed a run) that the four runs take about 0.2 s: every
# build pays for them.
GATE_SPEC = "kernel=8K,boot_params=4K,cmdline=256,initrd=4K"


def gate(data, path, out=print):
    """The runs of the default build's gate; returns the JSON report (of a
    machine that cannot be emulated here, the reason, and the build goes
    on saying so) or raises UserError naming the runs that failed."""
    module = emulator.machine_abi_of(data, path)
    refused = emulator.cannot_run_here(module, path)
    if refused:
        out(f"  RUN     {path}: not run: {refused}")
        return json.dumps({"not_run": refused}, indent=1) + "\n"
    # The highest test address this emulator reaches (Debian 12's Unicorn
    # stops at 1 TiB: there the gate runs at 4 GiB + 4 KiB).
    reached = [a for a in module.TEST_ADDRESSES
               if not emulator.cannot_run_here(module, path, a)]
    low, high = reached[0], reached[-1]
    return run_all(data, path, out, GATE_SPEC, (low, high))
