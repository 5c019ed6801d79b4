# SPDX-License-Identifier: GPL-2.0-only
"""Benchmarks: build cost and purgatory speed, each against a reference
measured in the same run, so the ratios hold on a noisy, shared machine.

    python bench/run.py [--quick] [--reps N] [--json PATH] [--markdown PATH]

Writes bench/results.json and BENCHMARKS.md (a table: median of the runs,
min-max, the machine, each target met or not). Ours and the reference
alternate within every repetition, so load that comes and goes hits both.
``--quick`` runs one repetition of each, to prove the script works (CI).
"""

import argparse
import ctypes
import datetime
import hashlib
import json
import os
import platform
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "site_scons"))

from kexec_purgatory.abi import x86_64  # noqa: E402
from kexec_purgatory.build import flags  # noqa: E402
from kexec_purgatory.formats import c_array, incbin  # noqa: E402
from kexec_purgatory.files import read_bytes, write_atomically  # noqa: E402

MIB = 1 << 20
EMBED_SIZES_MIB = (1, 16, 64)
COMPILE_SIZE_MIB = 16
# The 2022 report's kexec: a 53 MB bzImage and a 28 MB initramfs.
SHA256_SEGMENTS_MB = (53, 28)
DEFAULT_REPS = 5
# Null builds last ~0.1 s, where a shared machine's noise is as large as
# the difference measured: they get more repetitions (not with --quick).
NULL_BUILD_REPS_FACTOR = 4

# What a build needs from the tree, plus the references in bench/.
TREE_ENTRIES = ("SConstruct", "SConscript", "site_scons", "purgatory", "arch",
                "bench")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".sconsign*",
                                 "results.json")

# key: (what it compares, target text, test of the value or None for info)
FIGURES = {
    "clean_build_ratio": (
        "clean build, `scons -j2` ÷ `make -j2 -f bench/Makefile`",
        "≤ 1.2", lambda v: v <= 1.2),
    "null_build_ratio": (
        "null build, `scons` ÷ bare SCons (bench/floor: no tool loaded)",
        "≤ 1.3", lambda v: v <= 1.3),
    "null_build_vs_make": (
        "null build, `scons` ÷ `make -f bench/Makefile`",
        "(information)", None),
    "embed_throughput_ratio": (
        "C array, `kexec-purgatory embed` process ÷ `xxd -i` process, MB/s "
        "(> 1: faster); worst of 1, 16, 64 MiB",
        "≥ 1 at every size", lambda v: v >= 1.0),
    "embed_compile_ratio": (
        "`gcc -O2 -c` of the generated C ÷ of the generated `.incbin` .S, "
        "16 MiB",
        "≤ 2", lambda v: v <= 2.0),
    "sha256_insn_per_byte": (
        "instructions per byte hashed by purgatory.ro in the emulator, "
        "baseline path (CPU model without BMI2)",
        "≤ 41", lambda v: v <= 41.0),
    "sha256_insn_per_byte_bmi2": (
        "instructions per byte hashed by purgatory.ro in the emulator, "
        "BMI2 path (CPU model Haswell)",
        "≤ 37", lambda v: v <= 37.0),
    "sha256_vs_linux_ratio": (
        "time to hash 81 MB (53 MB + 28 MB, two updates), this tree's "
        "dispatched SHA-256 ÷ Linux 6.1's purgatory hash (lib/crypto/"
        "sha256.c, Kbuild's flags), both built for the host, one process",
        "≤ 0.2 (SHA-NI)", lambda v: v <= 0.2),
    "sha256_kexec_ms_saved": (
        "milliseconds saved per 81 MB kexec on this CPU: Linux 6.1's hash "
        "time − ours (medians of the figure above)",
        "(information)", None),
    "sha256_native_mbps": (
        "MB/s of the dispatched path on the host (purgatory flags), 81 MB; "
        "each path's and OpenSSL's (hashlib) in the details",
        "(information)", None),
    "kexec_boot_ratio": (
        "real kexec under QEMU with KVM: `Starting new kernel` to the second "
        "kernel's first line, ours ÷ Linux's purgatory",
        "(information)", None),
    "kernel_clean_build_ratio": (
        "kernel mode, clean build (Kbuild asked, then built), `scons "
        "KERNEL=SRC KERNEL_O=OBJ` ÷ `make O=OBJ arch/x86/purgatory/`, "
        "Debian 6.1 cloud-amd64",
        "(information)", None),
    "kernel_null_build_ratio": (
        "kernel mode, null build, `scons KERNEL=SRC KERNEL_O=OBJ` ÷ "
        "`make O=OBJ arch/x86/purgatory/`",
        "≤ 1", lambda v: v <= 1.0),
    "kernel_null_build_ms": (
        "kernel mode, null build of `scons KERNEL=SRC KERNEL_O=OBJ`, ms "
        "(no make, no compiler run)",
        "≤ 500", lambda v: v <= 500.0),
    "check_ms": (
        "the checker on purgatory.ro, in process, its imports included "
        "(as the build's CHECK step pays them), ms",
        "< 150", lambda v: v < 150.0),
}


class NotMeasured(Exception):
    """A figure that this tree or machine cannot measure (yet): why."""


# ---------------------------------------------------------------- timing

class Timings(list):
    """Wall-clock durations (seconds) of one step, with the CPU time each
    took (this process and its children): on a shared machine the CPU
    time shows what the wall clock hides."""

    def __init__(self):
        super().__init__()
        self.cpu = []


def cpu_seconds():
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def summary(timings):
    """Median, min and max of a list of durations, in milliseconds."""
    ms = [s * 1e3 for s in timings]
    out = {"median_ms": round(statistics.median(ms), 3),
           "min_ms": round(min(ms), 3), "max_ms": round(max(ms), 3),
           "runs": len(ms)}
    if getattr(timings, "cpu", None):
        out["cpu_median_ms"] = round(statistics.median(timings.cpu) * 1e3, 3)
    return out


def alternate(reps, steps):
    """Time each step once per repetition, in turn; {name: Timings}.

    ``steps`` maps a name to ``(prepare, measured)``; ``prepare`` (or None)
    runs untimed before each timed call of ``measured``.
    """
    times = {name: Timings() for name in steps}
    for _ in range(reps):
        for name, (prepare, measured) in steps.items():
            if prepare:
                prepare()
            cpu = cpu_seconds()
            start = time.perf_counter()
            measured()
            times[name].append(time.perf_counter() - start)
            times[name].cpu.append(cpu_seconds() - cpu)
    return times


def median_ratio(ours, reference):
    return round(statistics.median(ours) / statistics.median(reference), 3)


def ratio_figure(ours, reference, **extra):
    """A figure: median of ours ÷ median of the reference, both summarised
    (and the same ratio of CPU times, for information)."""
    figure = {"value": median_ratio(ours, reference),
              "cpu_ratio": median_ratio(ours.cpu, reference.cpu),
              "ours": summary(ours), "reference": summary(reference)}
    figure.update(extra)
    return figure


class Runner:
    """Runs commands in the benchmark's copy of the tree, failing loudly."""

    def __init__(self, tree, environ):
        self.tree = tree
        self.environ = environ

    def command(self, argv, cwd=None, stdout=subprocess.DEVNULL):
        """A callable that runs ``argv`` and raises if it fails."""
        def run():
            result = subprocess.run(argv, cwd=cwd or self.tree, stdout=stdout,
                                    stderr=subprocess.PIPE, env=self.environ)
            if result.returncode:
                raise RuntimeError(f"{' '.join(map(str, argv))} failed "
                                   f"({result.returncode}): "
                                   f"{result.stderr.decode(errors='replace')}")
        return run

    def remover(self, *paths):
        def remove():
            for path in paths:
                shutil.rmtree(self.tree / path, ignore_errors=True)
        return remove


def scons_command():
    """The scons of this Python (its venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("scons")
    found = str(beside) if beside.exists() else shutil.which("scons")
    if not found:
        raise SystemExit("bench: scons not found (pip install scons)")
    return [found]


def require(*programs):
    missing = [p for p in programs if not shutil.which(p)]
    if missing:
        raise NotMeasured(f"not measured: {', '.join(missing)} not installed")


def require_sources(tree):
    if not (tree / "purgatory" / "sha256.c").exists():
        raise NotMeasured("not measured: the purgatory sources "
                          "(purgatory/, arch/x86/) are not in this tree")


# ---------------------------------------------------------------- builds

def build_figures(run, reps, quick):
    """clean_build_ratio, null_build_ratio, null_build_vs_make."""
    require_sources(run.tree)
    require("make", "gcc", "ld")
    scons = scons_command()
    make = ["make", "-f", "bench/Makefile", f"PYTHON={sys.executable}"]
    clean = alternate(reps, {
        "scons": (run.remover("build-scons"),
                  run.command([*scons, "-Q", "-j2", "O=build-scons"])),
        "make": (run.remover("build-make"),
                 run.command([*make, "-j2", "O=build-make"])),
    })
    identical = all(
        (run.tree / "build-scons" / name).read_bytes()
        == (run.tree / "build-make" / name).read_bytes()
        for name in ("purgatory.ro", "purgatory.check", "kexec-purgatory.c",
                     "kexec-purgatory.S"))
    floor = run.tree / "bench" / "floor"
    run.command([*scons, "-Q"], cwd=floor)()    # its .sconsign, once
    null = alternate(reps if quick else reps * NULL_BUILD_REPS_FACTOR, {
        "scons": (None, run.command([*scons, "-Q", "O=build-scons"])),
        "floor": (None, run.command([*scons, "-Q"], cwd=floor)),
        "make": (None, run.command([*make, "O=build-make"])),
    })
    return {
        "clean_build_ratio": ratio_figure(
            clean["scons"], clean["make"], outputs_identical=identical),
        "null_build_ratio": ratio_figure(null["scons"], null["floor"]),
        "null_build_vs_make": ratio_figure(null["scons"], null["make"]),
    }


# ---------------------------------------------------------------- kernel mode

def kernel_tree():
    """(SRC, OBJ) of the tests' prepared Debian 6.1 cloud-amd64 tree."""
    # Where tests/linux_trees.py keeps the 6.1 trees.
    cache_root = Path(os.environ.get("KEXEC_PURGATORY_KERNEL_CACHE_ROOT",
                                     Path.home() / ".cache/kexec-purgatory"))
    root = Path(os.environ.get("KEXEC_PURGATORY_KERNEL_CACHE",
                               cache_root / "linux-6.1"))
    src, obj = root / "src", root / "obj-cloud-amd64"
    # Complete only once the stamp the tests write last is there.
    if not (src / "Makefile").exists() or \
            not (obj / ".kexec-purgatory-prepared").exists():
        raise NotMeasured(f"not measured: no prepared kernel tree in {root} "
                          "(python tests/linux_trees.py cloud-amd64 makes it)")
    return src, obj


def kernel_figures(run, work, reps, quick):
    """kernel_clean_build_ratio, kernel_null_build_ratio, _ms: scons in
    kernel mode against Kbuild itself on a copy of a prepared tree."""
    require("make", "gcc", "ld")
    src, prepared = kernel_tree()
    obj = work / "kernel-obj"
    shutil.copytree(prepared, obj, symlinks=True)
    out = work / "kernel-out"
    purgatory = obj / "arch/x86/purgatory"
    scons = [*scons_command(), "-Q", f"KERNEL={src}", f"KERNEL_O={obj}",
             f"O={out}"]
    make = ["make", "-s", "-C", str(src), f"O={obj}", "arch/x86/purgatory/"]

    def clean_make():
        for path in purgatory.iterdir():
            if path.name != "Makefile" and path.is_file():
                path.unlink()
    clean = alternate(reps, {
        "scons": (lambda: shutil.rmtree(out, ignore_errors=True),
                  run.command(scons)),
        "make": (clean_make, run.command(make)),
    })
    null = alternate(reps if quick else reps * NULL_BUILD_REPS_FACTOR, {
        "scons": (None, run.command(scons)),
        "make": (None, run.command(make)),
    })
    identical = (out / "arch/x86/purgatory/purgatory.ro").read_bytes() == \
        (purgatory / "purgatory.ro").read_bytes()
    return {
        "kernel_clean_build_ratio": ratio_figure(
            clean["scons"], clean["make"], outputs_identical=identical),
        "kernel_null_build_ratio": ratio_figure(null["scons"], null["make"]),
        "kernel_null_build_ms": {
            "value": summary(null["scons"])["median_ms"],
            "ours": summary(null["scons"])},
    }


# ---------------------------------------------------------------- embedding

def random_file(path, size, seed):
    data = random.Random(seed).randbytes(size)
    path.write_bytes(data)
    return data


def embed_figures(run, work, reps):
    """embed_throughput_ratio (process) and the in-process figures."""
    require("xxd")
    embed_cmd = [sys.executable, "-m", "kexec_purgatory", "embed", "--raw"]
    by_size = {}
    for mib in EMBED_SIZES_MIB:
        source = work / f"random-{mib}M.bin"
        data = random_file(source, mib * MIB, seed=mib)
        ours_out, xxd_out = work / f"ours-{mib}M.c", work / f"xxd-{mib}M.c"

        def xxd():
            with open(xxd_out, "wb") as out:
                run.command(["xxd", "-i", source], stdout=out)()

        def in_process():
            write_atomically(ours_out, c_array.c_array(read_bytes(source),
                                                     source.name))
        times = alternate(reps, {
            "process": (None, run.command([*embed_cmd, source, "-o",
                                           ours_out])),
            "in_process": (None, in_process),
            "xxd": (None, xxd),
        })
        size_mb = len(data) / 1e6
        xxd_median = statistics.median(times["xxd"])
        by_size[f"{mib}MiB"] = {
            "ours_process_MBps": round(size_mb / statistics.median(
                times["process"]), 1),
            "ours_in_process_MBps": round(size_mb / statistics.median(
                times["in_process"]), 1),
            "xxd_MBps": round(size_mb / xxd_median, 1),
            "ratio_process": round(xxd_median
                                   / statistics.median(times["process"]), 3),
            "ratio_in_process": round(
                xxd_median / statistics.median(times["in_process"]), 3),
            "ours_process": summary(times["process"]),
            "ours_in_process": summary(times["in_process"]),
            "xxd": summary(times["xxd"]),
        }
    worst = min(by_size.values(), key=lambda s: s["ratio_process"])
    return {"embed_throughput_ratio": {
        "value": worst["ratio_process"], "by_size": by_size,
        "in_process_value": min(s["ratio_in_process"]
                                for s in by_size.values())}}




def compile_figures(run, work, reps, quick):
    """embed_compile_ratio: the generated C vs .incbin, 16 MiB, gcc -O2 -c.

    An `xxd -i` hex list of the same bytes, which takes gcc minutes, is
    compiled once, and not at all with --quick."""
    require("gcc", "xxd")
    source = work / f"random-{COMPILE_SIZE_MIB}M.bin"
    if not source.exists():
        random_file(source, COMPILE_SIZE_MIB * MIB, seed=COMPILE_SIZE_MIB)
    data = source.read_bytes()
    c_file, s_file = work / "compile-ours.c", work / "compile-incbin.S"
    c_file.write_bytes(c_array.c_array(data, source.name))
    # The project's own .S form: .incbin of the same file.
    s_file.write_bytes(incbin.incbin_text(data, source.name,
                                        incbin_path=str(source)))

    def gcc(name, path):
        return run.command(["gcc", "-O2", "-c", "-o", work / f"{name}.o",
                            path])
    times = alternate(reps, {"c": (None, gcc("c", c_file)),
                             "incbin": (None, gcc("incbin", s_file))})
    figure = ratio_figure(times["c"], times["incbin"])
    if not quick:
        xxd_file = work / "compile-xxd.c"
        with open(xxd_file, "wb") as out:
            run.command(["xxd", "-i", "-n", "kexec_purgatory", source],
                        stdout=out)()
        hex_list = alternate(1, {"xxd": (None, gcc("xxd", xxd_file))})
        figure.update(xxd_hex_list=summary(hex_list["xxd"]),
                      xxd_hex_list_ratio=median_ratio(hex_list["xxd"],
                                                      times["incbin"]))
    return {"embed_compile_ratio": figure}


# ---------------------------------------------------------------- sha256

# purgatory_sha256_path values (purgatory/sha256.h), by name, and what
# each path needs of the CPU.
SHA256_PATH_NAMES = dict(enumerate(x86_64.SHA256_PATHS))
SHA256_PATHS = {name: value for value, name in SHA256_PATH_NAMES.items()
                if value}
SHA256_PATH_NEEDS = x86_64.SHA256_PATH_CPU_FLAGS


def compile_host(work, name, commands, cwd):
    """Run compile commands; a RuntimeError with gcc's words if one fails."""
    for command in commands:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"host build of {name} failed: "
                               f"{' '.join(map(str, command))}\n{result.stderr}")


def host_sha256(tree, work):
    """This tree's SHA-256 (sha256.c, string.c, sha256-ni.S) built for the
    host with the purgatory's flags (PURGATORY_HOST: no CR writes)."""
    library = work / "libpurgatory-sha256.so"
    ni, chain = work / "sha256-ni.o", work / "rnds2_chain.o"
    compile_host(work, "sha256-ni.S", [
        ["gcc", *flags.purgatory_asflags("pic"), "-DPURGATORY_HOST", "-c",
         "-o", str(ni), "arch/x86/sha256-ni.S"],
        ["gcc", "-c", "-o", str(chain), "bench/rnds2_chain.S"],
        ["gcc", *flags.purgatory_cflags("pic"), "-DPURGATORY_HOST",
         "-DSHA256_SHA_NI", "-Ipurgatory", "-shared", "-nostdlib", "-Wl,-z,defs", "-o",
         str(library), "bench/sha256_host.c", "purgatory/sha256.c",
         "purgatory/string.c", str(ni), str(chain)]], tree)
    function = ctypes.CDLL(str(library)).bench_sha256
    function.argtypes = (ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                         ctypes.c_size_t, ctypes.c_char_p, ctypes.c_int)
    function.restype = ctypes.c_int
    function.rnds2_chain = ctypes.CDLL(str(library)).bench_rnds2_chain
    function.rnds2_chain.argtypes = (ctypes.c_size_t,)
    function.rnds2_chain.restype = None
    return function


def kbuild_command(obj, target):
    """The command Kbuild recorded for ``target`` (relative to OBJ) in its
    .cmd file, as words (6.1: ``cmd_T :=``, 6.12: ``savedcmd_T :=``)."""
    cmd = obj / Path(target).parent / f".{Path(target).name}.cmd"
    for line in cmd.read_text().splitlines():
        for prefix in (f"cmd_{target} := ", f"savedcmd_{target} := "):
            if line.startswith(prefix):
                return shlex.split(line[len(prefix):].replace("$$", "$"))
    raise NotMeasured(f"not measured: no command for {target} in {cmd}")


def linux_sha256(tree, work):
    """Linux 6.1's lib/crypto/sha256.c, compiled with the command Kbuild
    gave arch/x86/purgatory/sha256.o (its output moved), and linked for the
    host with bench/linux_sha256_host.c."""
    src, obj = kernel_tree()
    words = kbuild_command(obj, "arch/x86/purgatory/sha256.o")
    out = work / "linux-sha256.o"
    words = [w for w in words if not w.startswith("-Wp,-MMD")]
    words[words.index("-o") + 1] = str(out)
    library = work / "liblinux-sha256.so"
    compile_host(work, "Linux's sha256.c", [
        words,
        ["gcc", "-O2", "-shared", "-fpic", "-o", str(library),
         str(tree / "bench" / "linux_sha256_host.c"), str(out)]], obj)
    function = ctypes.CDLL(str(library)).bench_linux_sha256
    function.argtypes = (ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                         ctypes.c_size_t, ctypes.c_char_p)
    function.restype = None
    return function, src


def cpuinfo(field):
    """The first value of ``field`` in /proc/cpuinfo, or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == field:
                return value.strip()
    except OSError:
        pass
    return None


def cpu_flags():
    return set((cpuinfo("flags") or "").split())


def sha256_native_figures(run, work, reps):
    """sha256_vs_linux_ratio, sha256_kexec_ms_saved, sha256_native_mbps:
    ours (dispatched and each path the CPU runs), Linux 6.1's and OpenSSL's
    over the same two buffers, taking turns."""
    require_sources(run.tree)
    require("gcc")
    ours = host_sha256(run.tree, work)
    rng = random.Random(sum(SHA256_SEGMENTS_MB))
    a, b = (rng.randbytes(mb * 1000 * 1000) for mb in SHA256_SEGMENTS_MB)
    expected = hashlib.sha256(a + b).digest()
    digest = ctypes.create_string_buffer(32)
    path = SHA256_PATH_NAMES[ours(a, len(a), b, len(b), digest, 0)]
    have = cpu_flags()
    paths = [p for p, needs in SHA256_PATH_NEEDS.items() if set(needs) <= have]
    for forced in paths:
        ours(a, len(a), b, len(b), digest, SHA256_PATHS[forced])
        if digest.raw != expected:
            raise RuntimeError(f"the host build's {forced} path gives a "
                               "wrong digest")
    steps = {"ours": (None, lambda: ours(a, len(a), b, len(b), digest, 0))}
    try:
        linux, _ = linux_sha256(run.tree, work)
    except NotMeasured as e:
        linux, missing_linux = None, str(e)
    if linux is not None:
        linux_digest = ctypes.create_string_buffer(32)
        linux(a, len(a), b, len(b), linux_digest)
        if linux_digest.raw != expected:
            raise RuntimeError("Linux's sha256.c gives a wrong digest")
        steps["linux"] = (None, lambda: linux(a, len(a), b, len(b), linux_digest))
    for forced in paths:
        steps[forced] = (None, lambda n=SHA256_PATHS[forced]:
                         ours(a, len(a), b, len(b), digest, n))

    def openssl():
        h = hashlib.sha256(a)
        h.update(b)
        h.digest()
    steps["openssl"] = (None, openssl)
    if "sha-ni" in paths:
        # The SHA-NI floor: 32 dependent sha256rnds2 a block, nothing else.
        blocks = (len(a) + len(b)) // 64
        steps["rnds2_chain"] = (None, lambda: ours.rnds2_chain(32 * blocks))
    times = alternate(reps, steps)
    size_mb = (len(a) + len(b)) / 1e6

    def mbps(name):
        return round(size_mb / statistics.median(times[name]), 1)

    def cpu_mbps(name):
        return round(size_mb / statistics.median(times[name].cpu), 1)
    by_path = {p: mbps(p) for p in paths}
    figures = {"sha256_native_mbps": {
        "value": mbps("ours"), "path": path, "ours": summary(times["ours"]),
        "by_path_MBps": by_path, "openssl_MBps": mbps("openssl"),
        # CPU time: on a shared machine the wall clock also counts waiting.
        "by_path_cpu_MBps": {p: cpu_mbps(p) for p in paths},
        "openssl_cpu_MBps": cpu_mbps("openssl"),
        "vs_openssl": {p: round(v / mbps("openssl"), 3) for p, v in by_path.items()},
        "unavailable_paths": sorted(set(SHA256_PATHS) - set(paths)),
        "openssl": getattr(__import__("ssl"), "OPENSSL_VERSION", "?"),
        "reference": summary(times["openssl"])}}
    if "rnds2_chain" in times:
        floor = figures["sha256_native_mbps"]["sha_ni_floor"] = {
            "MBps": mbps("rnds2_chain"), "cpu_MBps": cpu_mbps("rnds2_chain"),
            "cpu": summary(times["rnds2_chain"])}
    if linux is None:
        figures["_missing"] = dict.fromkeys(
            ("sha256_vs_linux_ratio", "sha256_kexec_ms_saved"), missing_linux)
        return figures
    saved = statistics.median(times["linux"]) - statistics.median(times["ours"])
    figures["sha256_vs_linux_ratio"] = ratio_figure(
        times["ours"], times["linux"], path=path,
        ours_MBps=mbps("ours"), linux_MBps=mbps("linux"),
        ours_cpu_MBps=cpu_mbps("ours"), linux_cpu_MBps=cpu_mbps("linux"))
    if "rnds2_chain" in times:
        floor["vs_linux"] = median_ratio(times["rnds2_chain"], times["linux"])
        floor["cpu_vs_linux"] = median_ratio(times["rnds2_chain"].cpu,
                                             times["linux"].cpu)
        figures["sha256_vs_linux_ratio"]["sha_ni_floor_ratio"] = floor["vs_linux"]
    figures["sha256_kexec_ms_saved"] = {
        "value": round(saved * 1e3, 1), "path": path,
        "ours": summary(times["ours"]), "reference": summary(times["linux"])}
    return figures


def built_purgatory(run):
    """purgatory.ro of the benchmark's scons build (built if needed)."""
    ro = run.tree / "build-scons" / "purgatory.ro"
    if not ro.exists():
        require_sources(run.tree)
        run.command([*scons_command(), "-Q", "O=build-scons"])()
    return ro


def sha256_emulated_figures(run, reps):
    """sha256_insn_per_byte (baseline path) and _bmi2, from `kexec-purgatory
    run FILE --cpu MODEL --json`: the CPU model decides the path."""
    from kexec_purgatory import cli
    if "run" not in cli.COMMANDS:
        raise NotMeasured("not measured: emulator not available "
                          "(`kexec-purgatory run`)")
    ro = built_purgatory(run)
    figures = {}
    for key, cpu, path in (("sha256_insn_per_byte", "baseline", "generic"),
                           ("sha256_insn_per_byte_bmi2", "bmi2", "bmi2")):
        result = subprocess.run(
            [sys.executable, "-m", "kexec_purgatory", "run", ro, "--json",
             "--cpu", cpu], cwd=run.tree, capture_output=True, text=True,
            env=run.environ)
        if not result.stdout.strip():
            raise NotMeasured(f"not measured: kexec-purgatory run: "
                              f"{last_line(result.stderr)}")
        report = json.loads(result.stdout)
        per_byte = report.get("instructions_per_byte")
        if per_byte is None:
            raise NotMeasured("not measured: the purgatory did not enter the "
                              f"kernel in the emulator: {report.get('message')}")
        if report.get("sha256_path") != path:
            raise RuntimeError(f"CPU model {cpu}: the purgatory took the "
                               f"{report.get('sha256_path')} path, not {path}")
        figures[key] = {
            "value": round(per_byte, 2), "cpu": cpu, "path": path,
            "instructions": report.get("instructions"),
            "reference": "Linux 6.1 (Debian) purgatory: about 54 in the same "
                         "kind of emulator"}
    return figures


def kexec_boot_figures():
    """kexec_boot_ratio: needs QEMU with hardware virtualisation, which
    this machine may not have; says why it is not measured."""
    have = cpu_flags()
    if not ({"vmx", "svm"} & have):
        kvm = ("/dev/kvm is there but is a software hypervisor (no vmx/svm "
               "in the CPU flags; measured: a guest needs 80-95 s to print "
               "its first line, then stops at XSAVE setup)"
               if os.path.exists("/dev/kvm") else "there is no /dev/kvm")
        raise NotMeasured("not measured: no hardware virtualisation here: "
                          + kvm + "; under TCG the hash runs emulated, so "
                          "the time would measure QEMU, not the purgatory")
    raise NotMeasured("not measured: `kexec-purgatory boot-test` boots the "
                      "kexec under KVM, but does not time `Starting new "
                      "kernel` to the second kernel's first line yet")


# ---------------------------------------------------------------- checker

# A fresh interpreter times the imports (capstone, pyelftools) with the
# check, as the build step pays them: it imports the checker when it runs.
COLD_CHECK = """
import sys, time
start = time.perf_counter()
from kexec_purgatory import check
check.check_file(sys.argv[1], check.KERNEL_ABI, check.DISPATCHED)
print(time.perf_counter() - start)
"""


def check_figures(run, reps):
    """check_ms: the checker on our purgatory.ro, in process."""
    try:
        from kexec_purgatory import check
    except ImportError:
        raise NotMeasured("not measured: checker not available "
                          "(kexec_purgatory.check)") from None
    ro = str(built_purgatory(run))
    cold = Timings()
    for _ in range(reps):
        result = subprocess.run([sys.executable, "-c", COLD_CHECK, ro],
                                capture_output=True, text=True,
                                env=run.environ)
        if result.returncode:
            raise NotMeasured(f"not measured: the checker failed: "
                              f"{last_line(result.stderr)}")
        cold.append(float(result.stdout))
    warm = alternate(reps, {
        "check": (None, lambda: check.check_file(ro, check.KERNEL_ABI,
                                                 check.DISPATCHED))})
    findings = check.check_file(ro, check.KERNEL_ABI, check.DISPATCHED)
    stats = summary(cold)
    return {"check_ms": {
        "value": stats["median_ms"], "ours": stats,
        "warm": summary(warm["check"]),
        "reference": "imports done: "
                     f"{summary(warm['check'])['median_ms']:.1f} ms",
        "findings": len(findings)}}


# ---------------------------------------------------------------- report

def last_line(text):
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no message"


def first_line(argv):
    try:
        result = subprocess.run(argv, capture_output=True, text=True)
    except OSError:
        return "not installed"
    return (result.stdout or result.stderr).strip().splitlines()[0]


def machine():
    """What the figures were measured on."""
    cpu = cpuinfo("model name") or "?"
    import SCons
    return {
        "cpu": cpu, "cores": os.cpu_count(),
        "sha_ni": "sha_ni" in cpu_flags(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "scons": SCons.__version__,
        "gcc": first_line(["gcc", "--version"]),
        "make": first_line(["make", "--version"]),
        "xxd": first_line(["xxd", "-v"]),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def with_targets(figures, missing):
    """Every figure's key, with its target and whether it is met."""
    out = {}
    for key, (what, target, test) in FIGURES.items():
        entry = {"what": what, "target": target}
        if key in figures:
            entry.update(figures[key])
            entry["met"] = None if test is None else bool(test(entry["value"]))
        else:
            entry.update(value=None, met=None, note=missing.get(key, "?"))
        out[key] = entry
    return out


def clean_build_limit(figures):
    floor = figures["null_build_ratio"].get("reference") or {}
    make = figures["clean_build_ratio"]["reference"]
    if not floor:
        return "SCons' own start-up, which make does not pay"
    return (f"SCons' own start-up, the bare-SCons floor of "
            f"{floor['median_ms']:.0f} ms, is more than the 20 % allowed "
            f"over make's whole build ({0.2 * make['median_ms']:.0f} ms): "
            "six small files cannot hide a fixed cost")


# What limits a figure whose target is missed: text, or a function of all
# the figures giving it. Shown next to the miss.
LIMITS = {
    "clean_build_ratio": clean_build_limit,
    "null_build_ratio": "the floor checks no node; this build checks ~30 "
                        "(command signatures, include scans)",
    "embed_compile_ratio": "a C array must pass every byte through gcc's "
                           "lexer (4 characters a byte) and back out to "
                           "the assembler as `.ascii` text, where `.incbin` "
                           "copies the file. Measured here on 16 MiB: 64 "
                           "bytes a line (beyond 80 columns) saves a fifth "
                           "of gcc's CPU time, an `asm()` of `.quad`s (no "
                           "longer a C array) half, both still >10 × "
                           "`.incbin`; a blob this size wants the `.incbin` "
                           "form, as Linux since 6.0",
    "sha256_insn_per_byte": "general-purpose registers of baseline x86-64 "
                            "only (the path for CPUs without BMI2): with "
                            "two-operand instructions a round takes at least "
                            "26 and a message-schedule step 18, about 40.5 a "
                            "byte, which gcc's code reaches",
    "sha256_insn_per_byte_bmi2": "the same C built with rorx and movbe: "
                                 "rorx saves a copy per Sigma, movbe a bswap "
                                 "per loaded word; the remaining cost is the "
                                 "two-operand ALU work",
    "sha256_vs_linux_ratio": lambda figures: sha_ni_limit(figures),
}


def sha_ni_limit(figures):
    """Why the SHA-NI ratio misses: the hardware floor, measured."""
    f = figures["sha256_vs_linux_ratio"]
    native = figures["sha256_native_mbps"]
    if f.get("path") != "sha-ni":
        return (f"this CPU took the {f.get('path')} path: the target is "
                "SHA-NI's; general registers alone are not 5 × faster than "
                "Linux 6.1's C")
    floor = native.get("sha_ni_floor", {})
    return (
        "one SHA-256 stream is a chain of 32 dependent sha256rnds2 a block; "
        f"that chain alone (no message schedule, no loads) runs at "
        f"{floor.get('MBps', 0):g} MB/s here, "
        f"{floor.get('vs_linux', 0):g} × Linux's time, so 0.2 leaves no room "
        "for the other work of a block; ours runs at "
        f"{native['by_path_MBps'].get('sha-ni', 0):g} MB/s, "
        f"{native['vs_openssl'].get('sha-ni', 0):g} × OpenSSL's SHA-NI code "
        "on the same data")


def markdown(results):
    m = results["machine"]
    lines = [
        "<!-- SPDX-License-Identifier: GPL-2.0-only -->",
        "# Benchmarks",
        "",
        "Written by `python bench/run.py` (do not edit by hand). Every "
        "figure is a ratio against a reference measured in the same run, "
        "ours and the reference taking turns in each repetition, so the "
        "ratios hold on a noisy machine while the absolute times do not.",
        "",
        f"Measured {results['date']}, {results['reps']} repetition(s) "
        f"a figure{' (--quick)' if results['quick'] else ''}, on: "
        f"{m['cpu']}, {m['cores']} cores, SHA-NI "
        f"{'yes' if m['sha_ni'] else 'no'}, {m['kernel']}, Python "
        f"{m['python']}, SCons {m['scons']}, {m['gcc']}, {m['make']}, "
        f"{m['xxd']}; load average at start {m['load_average']}.",
        "",
        "| figure | what is compared | value | CPU-time ratio | "
        "ours: median (min–max) | reference: median (min–max) | target | "
        "met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    figures = results["figures"]
    for key, f in figures.items():
        def span(s):
            if not isinstance(s, dict):
                return s or ""
            return (f"{s['median_ms']:.1f} ms ({s['min_ms']:.1f}–"
                    f"{s['max_ms']:.1f})")
        value = "—" if f["value"] is None else f"{f['value']:g}"
        met = {True: "yes", False: "**no**", None: ""}[f["met"]]
        if f["met"] is False and key in LIMITS:
            limit = LIMITS[key]
            met += f": {limit if isinstance(limit, str) else limit(figures)}"
        ours, ref = span(f.get("ours")), span(f.get("reference"))
        if "by_size" in f:
            ours = ", ".join(f"{size}: {s['ours_process_MBps']:g} MB/s"
                             for size, s in f["by_size"].items())
            ref = ", ".join(f"{size}: {s['xxd_MBps']:g} MB/s"
                            for size, s in f["by_size"].items())
        if f["value"] is None:
            ours = f["note"]
        cpu = f"{f['cpu_ratio']:g}" if "cpu_ratio" in f else ""
        lines.append(f"| `{key}` | {f['what']} | {value} | {cpu} | {ours} | "
                     f"{ref} | {f['target']} | {met} |")
    lines += ["", "Details:", ""]
    lines += notes(results["figures"])
    return "\n".join(lines) + "\n"


def notes(figures):
    out = []
    f = figures["clean_build_ratio"]
    if f["value"] is not None:
        out.append(
            "- Builds: a copy of the tree; `scons -Q -j2 O=build-scons` "
            "against `make -j2 -f bench/Makefile` (the commands `scons V=1` "
            "prints, Kbuild-style, `-MMD` for headers; its CHECK, BIN2C and "
            "INCBIN steps run `python -m kexec_purgatory check` and `... "
            "embed`, the commands `scons V=1` prints, each as its own "
            "process, where SCons runs them in its own; it writes no build "
            "record). Outputs byte-identical: "
            f"{'yes' if f['outputs_identical'] else '**no**'}. Null builds "
            "without `-j`, with "
            f"{figures['null_build_ratio']['ours']['runs']} repetitions. "
            "Python's bytecode cache is on, as users have it.")
    f = figures["embed_throughput_ratio"]
    if f["value"] is not None:
        sizes = "; ".join(
            f"{size}: process {s['ours_process_MBps']:g} MB/s, in process "
            f"{s['ours_in_process_MBps']:g} MB/s, `xxd -i` {s['xxd_MBps']:g}"
            f" MB/s" for size, s in f["by_size"].items())
        out.append(
            "- Embedding: the ratio is `kexec-purgatory embed` as a process "
            "(Python start-up included, as `xxd -i` pays its own) against "
            "`xxd -i`; in process (`c_array.c_array` and the write, as SCons "
            f"runs it) the worst ratio is {f['in_process_value']:g}. "
            + sizes + ".")
    f = figures["embed_compile_ratio"]
    if f["value"] is not None:
        hex_list = (f" An `xxd -i` hex list of the same bytes takes "
                    f"{f['xxd_hex_list_ratio']:g} × the `.incbin` time."
                    if "xxd_hex_list_ratio" in f else "")
        out.append(
            "- Compile: `gcc -O2 -c` of the generated string-literal C "
            "against assembling an `.incbin` .S of the same 16 MiB."
            + hex_list)
    f = figures["sha256_native_mbps"]
    if f["value"] is not None:
        paths = ", ".join(
            f"{p} {v:g} MB/s ({f['vs_openssl'][p]:g} × OpenSSL; by CPU time "
            f"{f['by_path_cpu_MBps'][p]:g} MB/s)"
            for p, v in f["by_path_MBps"].items())
        absent = (f"; not run on this CPU: {', '.join(f['unavailable_paths'])}"
                  if f["unavailable_paths"] else "")
        out.append(
            f"- SHA-256 on the host, 81 MB (53 MB + 28 MB, two updates): "
            f"ours took the {f['path']} path, {f['value']:g} MB/s; each path "
            f"forced: {paths}{absent}; OpenSSL ({f['openssl']}, hashlib) "
            f"{f['openssl_MBps']:g} MB/s (by CPU time "
            f"{f['openssl_cpu_MBps']:g}). Built for the host with the "
            "purgatory's flags and PURGATORY_HOST, which leaves out only "
            "sha256-ni.S's CR0/CR4 writes (user mode has SSE on). The BMI2 "
            "path runs fewer instructions than the baseline (see "
            "`sha256_insn_per_byte_bmi2`), which counts where instruction "
            "issue limits (the emulator, older cores); a core that keeps "
            "up with the baseline's instructions is limited by each round's "
            "dependency chain, which rorx does not shorten.")
    f = figures["sha256_vs_linux_ratio"]
    if f["value"] is not None:
        saved = figures["sha256_kexec_ms_saved"]["value"]
        floor = figures["sha256_native_mbps"].get("sha_ni_floor")
        if floor:
            out.append(
                f"- The SHA-NI floor: 32 dependent `sha256rnds2` per 64-byte "
                f"block and nothing else (bench/rnds2_chain.S) run at "
                f"{floor['MBps']:g} MB/s (by CPU time {floor['cpu_MBps']:g}), "
                f"{floor['vs_linux']:g} × Linux's time (CPU time: "
                f"{floor['cpu_vs_linux']:g} ×): the least any single-stream "
                "SHA-NI code can take on this CPU.")
        out.append(
            f"- Against Linux 6.1's purgatory hash: lib/crypto/sha256.c "
            "compiled with the command Kbuild recorded for "
            "arch/x86/purgatory/sha256.o (Debian 6.1 cloud-amd64 tree), "
            f"{f['linux_MBps']:g} MB/s (by CPU time {f['linux_cpu_MBps']:g}); "
            f"ours ({f['path']}) {f['ours_MBps']:g} MB/s (by CPU time "
            f"{f['ours_cpu_MBps']:g}; CPU-time ratio {f['cpu_ratio']:g}): "
            f"{saved:g} ms less per 81 MB kexec on "
            "this CPU (the 2022 report's \"300+ ms\" was on its own "
            "hardware).")
    return out


# ---------------------------------------------------------------- main

def copy_tree(dest):
    dest.mkdir(parents=True)
    for name in TREE_ENTRIES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORED)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def command_environment(tree):
    environ = dict(os.environ)
    environ.pop("SCONSFLAGS", None)
    environ.pop("MAKEFLAGS", None)
    environ.pop("MFLAGS", None)
    # Measure what users get: Python's bytecode cache on.
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    environ["PYTHONPATH"] = str(tree / "site_scons")
    bindir = str(Path(sys.executable).parent)
    environ["PATH"] = bindir + os.pathsep + environ.get("PATH", "")
    return environ


def measure(reps, work, quick):
    tree = copy_tree(work / "tree")
    run = Runner(tree, command_environment(tree))
    figures, missing = {}, {}
    steps = (
        (("clean_build_ratio", "null_build_ratio", "null_build_vs_make"),
         lambda: build_figures(run, reps, quick)),
        (("embed_throughput_ratio",), lambda: embed_figures(run, work, reps)),
        (("embed_compile_ratio",), lambda: compile_figures(run, work, reps, quick)),
        (("sha256_insn_per_byte", "sha256_insn_per_byte_bmi2"),
         lambda: sha256_emulated_figures(run, reps)),
        (("sha256_vs_linux_ratio", "sha256_kexec_ms_saved",
          "sha256_native_mbps"),
         lambda: sha256_native_figures(run, work, reps)),
        (("kexec_boot_ratio",), kexec_boot_figures),
        (("check_ms",), lambda: check_figures(run, reps)),
        (("kernel_clean_build_ratio", "kernel_null_build_ratio",
          "kernel_null_build_ms"),
         lambda: kernel_figures(run, work, reps, quick)),
    )
    for keys, step in steps:
        print(f"bench: {', '.join(keys)}", file=sys.stderr, flush=True)
        try:
            measured = step()
            missing.update(measured.pop("_missing", {}))
            figures.update(measured)
        except NotMeasured as e:
            missing.update(dict.fromkeys(keys, str(e)))
    return figures, missing


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one repetition of each (CI)")
    parser.add_argument("--reps", type=int, default=DEFAULT_REPS,
                        help="repetitions (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" /
                        "results.json", help="where to write the results")
    parser.add_argument("--markdown", type=Path, default=ROOT /
                        "BENCHMARKS.md", help="where to write the table")
    args = parser.parse_args(argv)
    reps = 1 if args.quick else max(1, args.reps)
    about = machine()
    with tempfile.TemporaryDirectory(prefix="kexec-purgatory-bench-") as tmp:
        figures, missing = measure(reps, Path(tmp), args.quick)
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc)
                .strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick, "reps": reps, "machine": about,
        "figures": with_targets(figures, missing),
    }
    results["machine"]["load_average_end"] = [
        round(x, 2) for x in os.getloadavg()]
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    args.markdown.write_text(markdown(results))
    for key, f in results["figures"].items():
        met = {True: "met", False: "MISSED", None: ""}[f["met"]]
        shown = f.get("note") if f["value"] is None else f["value"]
        print(f"{key:24} {shown} {f['target']} {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
