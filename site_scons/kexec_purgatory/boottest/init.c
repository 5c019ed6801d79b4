// SPDX-License-Identifier: GPL-2.0-only
/*
 * The init of boot-test's initramfs, built static by the host's gcc.
 *
 * Stage 1 (the first kernel) turns on the kexec loader's debug lines,
 * loads /boottest/kernel with /boottest/initrd and /boottest/cmdline through
 * kexec_file_load(2) (with KEXEC_FILE_ON_CRASH when /boottest/mode says
 * "crash"), prints the result with its errno, and jumps: reboot(KEXEC) on
 * the normal path, a sysrq crash on the crash path; before that it prints
 * the CPU's flags from /proc/cpuinfo, and when /boottest/hold names a
 * number of seconds it waits that long between the load and the jump (the
 * host sets a breakpoint in the loaded purgatory meanwhile).  Stage 2 (the
 * second kernel, told apart by "kpboot.stage=2" on its command line) proves
 * it is that kernel (for crash: elfcorehdr= and /proc/vmcore) and ends QEMU
 * at once through isa-debug-exit.  Every line it prints starts with "kpboot:";
 * the verdict reads the serial log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kexec.h>
#include <linux/reboot.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEBUG_EXIT_PORT		0xf4
/* QEMU exits with (value << 1) | 1. */
#define EXIT_STAGE2_OK		0x10
#define EXIT_STAGE2_FAILED	0x11
#define EXIT_LOAD_FAILED	0x12
#define EXIT_JUMP_FAILED	0x13

static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if (len > (int)sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	if (write(STDOUT_FILENO, "kpboot: ", 8) == 8)
		(void)!write(STDOUT_FILENO, line, len);
}

static void __attribute__((noreturn)) leave(int code)
{
	sync();
	if (ioperm(DEBUG_EXIT_PORT, 1, 1) == 0)
		outb(code, DEBUG_EXIT_PORT);
	say("isa-debug-exit unavailable (%s): rebooting", strerrorname_np(errno));
	/* QEMU runs with -no-reboot: a reset ends it. */
	reboot(LINUX_REBOOT_CMD_RESTART);
	for (;;)
		pause();
}

static int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -1;
	got = read(fd, buf, size - 1);
	close(fd);
	if (got < 0)
		return -1;
	buf[got] = '\0';
	while (got > 0 && buf[got - 1] == '\n')
		buf[--got] = '\0';
	return 0;
}

/* The first "flags" line of /proc/cpuinfo, whole: what the CPU model has. */
static void say_cpu_flags(void)
{
	static char info[65536];
	char *flags, *end;

	if (read_text("/proc/cpuinfo", info, sizeof(info))) {
		say("cpu flags: /proc/cpuinfo: %s", strerrorname_np(errno));
		return;
	}
	flags = strstr(info, "\nflags\t");
	flags = flags ? strchr(flags, ':') : NULL;
	if (!flags) {
		say("cpu flags: no flags line in /proc/cpuinfo");
		return;
	}
	flags += strspn(flags, ": ");
	end = flags + strcspn(flags, "\n");
	if (write(STDOUT_FILENO, "kpboot: cpu flags: ", 19) == 19) {
		*end = '\n';
		(void)!write(STDOUT_FILENO, flags, end + 1 - flags);
	}
}

static void enable_loader_debug(void)
{
	static const char *const files[] = {
		"kexec_file.c", "kexec-bzimage64.c", "machine_kexec_64.c",
	};
	char rule[64];
	unsigned int i;
	int fd;

	/* Console level 8: the pr_debug lines reach the serial console. */
	klogctl(8, NULL, 8);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		fd = open("/proc/dynamic_debug/control", O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			say("dynamic debug: %s", strerrorname_np(errno));
			return;
		}
		snprintf(rule, sizeof(rule), "file %s +p", files[i]);
		if (write(fd, rule, strlen(rule)) < 0)
			say("dynamic debug: %s: %s", files[i], strerrorname_np(errno));
		close(fd);
	}
}

static void stage1(void)
{
	char mode[32], cmdline[2048], hold[16];
	unsigned long flags = 0;
	int kernel, initrd, err;
	long ret;

	if (read_text("/boottest/mode", mode, sizeof(mode)) ||
	    read_text("/boottest/cmdline", cmdline, sizeof(cmdline))) {
		say("stage 1: no /boottest/mode or /boottest/cmdline");
		leave(EXIT_LOAD_FAILED);
	}
	if (strcmp(mode, "crash") == 0)
		flags |= KEXEC_FILE_ON_CRASH;
	say("stage 1 mode=%s", mode);
	say_cpu_flags();
	enable_loader_debug();
	kernel = open("/boottest/kernel", O_RDONLY | O_CLOEXEC);
	initrd = open("/boottest/initrd", O_RDONLY | O_CLOEXEC);
	if (kernel < 0 || initrd < 0) {
		say("load failed: %s (opening /boottest/kernel or initrd)",
		    strerrorname_np(errno));
		leave(EXIT_LOAD_FAILED);
	}
	say("loading (kexec_file_load flags=%#lx)", flags);
	ret = syscall(SYS_kexec_file_load, kernel, initrd,
		      strlen(cmdline) + 1, cmdline, flags);
	err = errno;
	if (ret != 0) {
		say("load failed: %s (errno %d)", strerrorname_np(err), err);
		leave(EXIT_LOAD_FAILED);
	}
	say("load ok");
	if (read_text("/boottest/hold", hold, sizeof(hold)) == 0) {
		say("holding %s s before the jump", hold);
		sleep(atoi(hold));
	}
	sync();
	if (flags & KEXEC_FILE_ON_CRASH) {
		int fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);

		say("jumping (sysrq c)");
		if (fd >= 0)
			(void)!write(fd, "c", 1);
	} else {
		say("jumping (reboot LINUX_REBOOT_CMD_KEXEC)");
		reboot(LINUX_REBOOT_CMD_KEXEC);
	}
	say("jump failed: %s", strerrorname_np(errno));
	leave(EXIT_JUMP_FAILED);
}

static void stage2(const char *cmdline)
{
	const char *core = strstr(cmdline, "elfcorehdr=");
	struct stat st;

	if (!strstr(cmdline, "kpboot.mode=crash")) {
		say("stage 2 ok: the second kernel runs init");
		leave(EXIT_STAGE2_OK);
	}
	if (!core) {
		say("stage 2 failed: no elfcorehdr= on the command line");
		leave(EXIT_STAGE2_FAILED);
	}
	if (stat("/proc/vmcore", &st) != 0) {
		say("stage 2 failed: /proc/vmcore: %s", strerrorname_np(errno));
		leave(EXIT_STAGE2_FAILED);
	}
	say("stage 2 ok: crash kernel, %.*s, /proc/vmcore %lld bytes",
	    (int)strcspn(core, " "), core, (long long)st.st_size);
	leave(EXIT_STAGE2_OK);
}

int main(void)
{
	char cmdline[4096];

	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	if (read_text("/proc/cmdline", cmdline, sizeof(cmdline))) {
		say("no /proc/cmdline: %s", strerrorname_np(errno));
		leave(EXIT_LOAD_FAILED);
	}
	if (strstr(cmdline, "kpboot.stage=2"))
		stage2(cmdline);
	stage1();
	return 0;
}
