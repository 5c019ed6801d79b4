# SPDX-License-Identifier: GPL-2.0-only
"""Choosing QEMU's accelerator: KVM only where it really helps.

The device node alone says little.  On some cloud machines /dev/kvm is a
software hypervisor (measured here: no vmx or svm among the CPU flags,
``-cpu host`` aborts, a guest needs 80-95 s to print its first line and
then stops at XSAVE setup), far slower than TCG's 2-3 s.  So KVM counts as
usable when the node opens read-write AND the CPU flags show hardware
virtualisation (vmx: Intel VT-x, svm: AMD-V).
"""

import os
from dataclasses import dataclass

from ..errors import UserError

CHOICES = ("auto", "kvm", "tcg")


@dataclass(frozen=True)
class Accel:
    name: str       # "kvm" or "tcg"
    reason: str     # why, for the progress line and the JSON


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def kvm_problem(device="/dev/kvm", cpuinfo="/proc/cpuinfo"):
    """Why KVM is not usable here, or None if it is."""
    if not os.path.exists(device):
        return f"no {device}"
    if not os.access(device, os.R_OK | os.W_OK):
        return f"{device} is not readable and writable by this user"
    if not cpu_flags(cpuinfo) & {"vmx", "svm"}:
        return (f"{device} is there but the CPU flags in {cpuinfo} show "
                "neither vmx nor svm: a software hypervisor, slower than TCG")
    return None


def choose(asked, device="/dev/kvm", cpuinfo="/proc/cpuinfo"):
    """The accelerator for ``asked`` (auto, kvm or tcg); UserError (exit 2)
    when kvm is asked and not usable."""
    if asked == "tcg":
        return Accel("tcg", "asked for")
    problem = kvm_problem(device, cpuinfo)
    if asked == "kvm":
        if problem:
            raise UserError(f"--accel kvm: {problem}")
        return Accel("kvm", "asked for")
    if problem:
        return Accel("tcg", problem)
    return Accel("kvm", f"{device} usable and the CPU has hardware "
                        "virtualisation")
