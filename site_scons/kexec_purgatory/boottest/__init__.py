# SPDX-License-Identifier: GPL-2.0-only
"""boot-test: the real kernel as the judge.  A kernel boots in QEMU with an
initramfs this package makes, kexecs through its purgatory, and the serial
log (with the vCPU's RIP when the guest goes quiet) says how far it got.
docs/boot-test.md says what that proves and what it does not."""
