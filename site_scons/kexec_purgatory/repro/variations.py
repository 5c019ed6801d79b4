# SPDX-License-Identifier: GPL-2.0-only
"""The conditions ``repro`` varies between builds, one named variation each.

Level 0 of every variation is the reference build's condition, pinned to a
fixed value (so that a build varying nothing is comparable); levels 1, 2,
... are different conditions. Where a condition needs a tool or privileges
that are missing, the variation falls back to an emulation and says so in
its description: the report never claims more than was done.
"""

import dataclasses
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile

from . import builds as reprobuild

REFERENCE_EPOCH = 1700000000            # 2023-11-14, the reference's clock


@dataclasses.dataclass(frozen=True)
class Tools:
    """What this machine allows, probed once per repro run."""
    faketime: bool
    disorderfs: bool
    uts_namespace: bool
    other_user: tuple                   # (uid, gid) of "nobody", or None


def _works(command):
    try:
        return subprocess.run(command, capture_output=True, cwd="/",
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _disorderfs_works():
    if not (shutil.which("disorderfs") and shutil.which("fusermount")):
        return False
    with tempfile.TemporaryDirectory() as real, \
            tempfile.TemporaryDirectory() as view:
        if not _works(reprobuild.disorderfs_command(real, view)):
            return False
        _works(["fusermount", "-u", "-z", view])
        return True


def probe_tools():
    return Tools(
        faketime=bool(shutil.which("faketime"))
        and _works(["faketime", "-f", "+1d", "true"]),
        disorderfs=_disorderfs_works(),
        uts_namespace=bool(shutil.which("unshare"))
        and _works(["unshare", "--uts", "--", "hostname", "repro-probe"]),
        other_user=_other_user())


def _other_user():
    """(uid, gid) of "nobody" if this root can run the build as it."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return None
    user = (entry.pw_uid, entry.pw_gid)
    if not _works([*reprobuild.as_user_command(user), sys.executable, "-c",
                   "import SCons, elftools"]):
        return None
    return user


def _pick(values, level):
    return values[(level - 1) % len(values)]


def build_path(setup, level, tools):
    if level == 0:
        setup.tree = setup.workspace / "p0" / "tree"
        return f"tree at {setup.tree} (shallow)"
    setup.tree = (setup.workspace / f"p{level}" / "a" / "much" / "deeper"
                  / "directory" / "for" / "the" / "same" / f"sources-{level}")
    return f"tree at {setup.tree} (deep, another name)"


def output_dir(setup, level, tools):
    if level == 0:
        setup.output_dir = "build"
        return "O=build (relative, in the tree)"
    if level % 2:
        setup.output_dir = str(setup.workspace / f"o{level}" / "elsewhere" / "out")
        return f"O={setup.output_dir} (absolute, outside the tree)"
    setup.output_dir = f"../out-{level}"
    return f"O={setup.output_dir} (relative, outside the tree)"


def time(setup, level, tools):
    setup.faketime = None
    if level == 0:
        setup.env["SOURCE_DATE_EPOCH"] = str(REFERENCE_EPOCH)
        setup.mtime = REFERENCE_EPOCH
        return (f"SOURCE_DATE_EPOCH={REFERENCE_EPOCH}, sources dated then, "
                "real clock")
    setup.mtime = 1000000000 + 12345678 * level
    if level == 1:
        setup.env.pop("SOURCE_DATE_EPOCH", None)
        what = "SOURCE_DATE_EPOCH unset"
    else:
        setup.env["SOURCE_DATE_EPOCH"] = str(REFERENCE_EPOCH + 86400 * 400 * level)
        what = f"SOURCE_DATE_EPOCH={setup.env['SOURCE_DATE_EPOCH']}"
    what += f", sources dated {setup.mtime}"
    if tools.faketime:
        setup.faketime = f"+{400 * level}d"
        return what + f", clock {setup.faketime} (faketime)"
    return what + ", real clock (emulated: faketime is not installed)"


def timezone(setup, level, tools):
    # POSIX TZ strings: they need no time zone database.
    setup.env["TZ"] = "UTC0" if level == 0 else _pick(
        ["XST-14", "NST+3:30", "YST+11"], level)
    return f"TZ={setup.env['TZ']}"


def locale(setup, level, tools):
    for name in [n for n in setup.env if n.startswith("LC_")] + ["LANG", "LANGUAGE"]:
        setup.env.pop(name, None)
    if level == 0:
        setup.env.update(LC_ALL="C", LANG="C")
        return "LC_ALL=C LANG=C"
    settings = _pick([{"LANG": "C.UTF-8", "LANGUAGE": "fr:de"},
                      {"LC_ALL": "POSIX", "LC_CTYPE": "C.UTF-8"}], level)
    setup.env.update(settings)
    return " ".join(f"{k}={v}" for k, v in settings.items())


def umask(setup, level, tools):
    setup.umask = 0o022 if level == 0 else _pick([0o077, 0o002], level)
    return f"umask {setup.umask:03o}"


def user(setup, level, tools):
    setup.user = None
    if level == 0:
        name = pwd.getpwuid(os.getuid()).pw_name
        setup.env.update(USER=name, LOGNAME=name, HOME=pwd.getpwuid(os.getuid()).pw_dir)
        return f"as {name}"
    home = setup.workspace / f"home-{level}"
    home.mkdir(parents=True, exist_ok=True)
    setup.env["HOME"] = str(home)
    if tools.other_user:
        setup.user = tools.other_user
        os.chown(home, *setup.user)
        name = pwd.getpwuid(setup.user[0]).pw_name
        setup.env.update(USER=name, LOGNAME=name)
        return f"as {name} (uid {setup.user[0]}, the copy owned by it), HOME={home}"
    name = f"repro-user-{level}"
    setup.env.update(USER=name, LOGNAME=name)
    return (f"USER=LOGNAME={name}, HOME={home} (emulated: switching users "
            "needs root and setpriv)")


def hostname(setup, level, tools):
    setup.hostname = None
    if level == 0:
        setup.env["HOSTNAME"] = socket.gethostname()
        return f"host name {setup.env['HOSTNAME']}"
    name = f"repro-host-{level}"
    setup.env["HOSTNAME"] = name
    if tools.uts_namespace:
        setup.hostname = name
        return f"host name {name} (unshare --uts)"
    return f"HOSTNAME={name} (emulated: unshare --uts is not permitted)"


def jobs(setup, level, tools):
    setup.jobs = 1 if level == 0 else level + 1
    return f"scons -j{setup.jobs}"


def fs_order(setup, level, tools):
    setup.disorder = None
    if level == 0:
        setup.copy_order = "sorted"
        return "files created in sorted order"
    setup.copy_order = "reversed" if level % 2 else "shuffled"
    what = f"files created in {setup.copy_order} order"
    if tools.disorderfs:
        setup.disorder = "reverse" if level % 2 else "shuffle"
        return what + f", directories listed {setup.disorder}d (disorderfs)"
    return what + " (emulated: disorderfs is not usable; the listing order " \
                  "follows creation order only on some file systems)"


def cache(setup, level, tools):
    setup.cache = level > 0
    if level == 0:
        return "no CacheDir"
    return "outputs retrieved from a CacheDir that a first build filled"


# name -> (apply(setup, level, tools) -> description, one-line summary)
VARIATIONS = {
    "build_path": (build_path, "where the tree is: shallow vs deep, another name"),
    "output_dir": (output_dir, "O=build in the tree vs O= elsewhere, absolute or relative"),
    "time": (time, "SOURCE_DATE_EPOCH set/unset/other, file dates, the clock"),
    "timezone": (timezone, "TZ"),
    "locale": (locale, "LC_ALL, LANG, LANGUAGE"),
    "umask": (umask, "022 vs 077/002"),
    "user": (user, "another user (root only) or another USER/LOGNAME/HOME"),
    "hostname": (hostname, "another host name in a UTS namespace"),
    "jobs": (jobs, "scons -j1 vs -j2, -j3"),
    "fs_order": (fs_order, "order of creation and of directory listing"),
    "cache": (cache, "building from an SCons CacheDir"),
}


def apply(setup, levels, tools):
    """Apply every variation at its level ({name: level}); the
    descriptions of the ones that are not at level 0."""
    described = {}
    for name, (function, _) in VARIATIONS.items():
        level = levels.get(name, 0)
        text = function(setup, level, tools)
        if level:
            described[name] = text
    return described


def reference_descriptions(setup, tools):
    """What the reference build's conditions are, per variation."""
    return {name: function(setup, 0, tools)
            for name, (function, _) in VARIATIONS.items()}
