# SPDX-License-Identifier: GPL-2.0-only
"""``kexec-purgatory boot-test``: kexec through a kernel's purgatory in
QEMU and say how far each path got (boottest/, docs/boot-test.md).

Exit status: 0 every path asked for reached the second kernel's init; 1 one
did not (refused at load, stopped in the purgatory, ...); 2 the test could
not run (no QEMU, no usable KVM when kvm was asked, a kernel without
KEXEC_FILE, bad input).
"""

import argparse
import os

from ..boottest import accel, session, small_kernel
from ..errors import UserError
from ..files import work_directory
from .contract import print_json

HELP = ("boot a kernel in QEMU and kexec through its purgatory into a second "
        "kernel, on the normal and the crash path")
EXIT_STATUS = ("every path asked for reached the second kernel",
               "one did not (refused at load, stopped in the purgatory, ...)",
               "the test could not run (no QEMU, no usable KVM when kvm was "
               "asked, a kernel without KEXEC_FILE, bad input)")


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r}: not a positive number")
        return value
    return parse


def _modes(text):
    return tuple(m.strip() for m in text.split(",") if m.strip())


def add_arguments(parser):
    defaults = session.Options(kernel="")
    first = parser.add_mutually_exclusive_group(required=True)
    first.add_argument("--kernel", metavar="BZIMAGE",
                       help="the first kernel: an x86_64 bzImage whose "
                            "kexec_file_load is tested, with the purgatory it "
                            "carries")
    first.add_argument("--source", metavar="SRC",
                       help="instead of --kernel: build (once) a small kernel "
                            "from the Linux tree SRC with --purgatory "
                            "embedded, and test that (written to "
                            "LOGS/bzImage)")
    parser.add_argument("--purgatory", metavar="FILE",
                        help="with --source: the purgatory.ro to embed")
    parser.add_argument("--kernel-o", metavar="OBJ",
                        help="with --source: the small kernel's build "
                             "directory, kept between runs (default: "
                             "LOGS/kernel)")
    parser.add_argument("--second-kernel", metavar="BZIMAGE",
                        help="the kernel kexec'd into (default: --kernel)")
    parser.add_argument("--modes", type=_modes, default=session.MODES,
                        metavar="LIST",
                        help="paths to test, comma-separated: normal "
                             "(reboot into it), crash (panic into it, with "
                             "crashkernel=); default: normal,crash")
    parser.add_argument("--accel", choices=accel.CHOICES, default="auto",
                        help="QEMU accelerator; auto: kvm when /dev/kvm is "
                             "usable and the CPU has vmx or svm, else tcg "
                             "(default: %(default)s)")
    parser.add_argument("--cpu", metavar="MODEL",
                        help="QEMU -cpu model, e.g. max or qemu64,+sha-ni "
                             "(default: QEMU's own; host under kvm)")
    parser.add_argument("--timeout", type=_positive(float), default=defaults.timeout,
                        metavar="S",
                        help="the longest one path may take, both kernels "
                             "(default: %(default)g)")
    parser.add_argument("--quiet", type=_positive(float), default=defaults.quiet,
                        metavar="S",
                        help="after stage 1 jumps, seconds without console "
                             "output before the vCPU's RIP is read "
                             "(default: %(default)g)")
    parser.add_argument("--append", default="", metavar="ARGS",
                        help="more kernel command-line arguments, for both "
                             "kernels")
    parser.add_argument("--memory", type=_positive(int), default=defaults.memory_mib,
                        metavar="MIB", help="guest memory (default: %(default)d)")
    parser.add_argument("--crashkernel", default=defaults.crashkernel,
                        metavar="SIZE",
                        help="crashkernel= of the crash path (default: "
                             "%(default)s)")
    parser.add_argument("--logs", default=defaults.logs, metavar="DIR",
                        help="where the serial logs are kept, named "
                             "BZIMAGE.MODE.serial.log (default: %(default)s)")


def _small_kernel(args):
    if not args.purgatory:
        raise UserError("--source needs --purgatory FILE (the purgatory.ro "
                        "to embed)")
    work_directory(args.logs, "--logs")
    return small_kernel.kernel_with(
        args.source, os.path.abspath(args.kernel_o or
                                     os.path.join(args.logs, "kernel")),
        args.purgatory, os.path.join(args.logs, "bzImage"))


def run(args):
    if args.source is None and (args.purgatory or args.kernel_o):
        raise UserError("--purgatory and --kernel-o go with --source")
    kernel = _small_kernel(args) if args.source else args.kernel
    result = session.run(session.Options(
        kernel=kernel, second_kernel=args.second_kernel,
        modes=args.modes, accel=args.accel, cpu=args.cpu,
        timeout=args.timeout, quiet=args.quiet, append=args.append,
        memory_mib=args.memory, crashkernel=args.crashkernel, logs=args.logs))
    status = result.exit_status()
    if args.json:
        return print_json(result.as_json(), status)
    else:
        for judged in result.verdicts:
            print(judged.line())
    return status
