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

    def command(self, path):
        """The same run as a ``kexec-purgatory`` command line."""
        corrupt = (f" --corrupt {self.corruption[0]}:{self.corruption[1]:#x}"
                   if self.corruption else "")
        return f"kexec-purgatory run --addr {self.address:#x}{corrupt} {path}"


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


def run_all(data, path, verbose=False, out=print):
    """Every planned run of the purgatory in ``data``; prints a line each
    (the command line with ``verbose``) and returns the JSON report, or
    raises UserError naming the runs that failed."""
    results, failed = [], []
    module = emulator.machine_abi_of(data, path)
    for planned in plan(addresses=module.TEST_ADDRESSES):
        if not emulator.reachable(module, planned.address):
            out(f"  RUN     {where(path, planned)}: skipped: {emulator.UNREACHABLE}")
            results.append({"address": planned.address,
                            "corruption": planned.corruption,
                            "skipped": emulator.UNREACHABLE})
            continue
        if verbose:
            out(planned.command(path))
        result = emulator.run(data, path, planned.address,
                              corruption=planned.corruption)
        out(summary(path, planned, result))
        results.append(result.as_dict())
        if not result.passed:
            failed.append(planned.command(path))
    if failed:
        raise UserError(f"{path}: failed in emulation: " + "; ".join(failed))
    return json.dumps(results, indent=1, sort_keys=True) + "\n"
