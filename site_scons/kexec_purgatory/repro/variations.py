# SPDX-License-Identifier: GPL-2.0-only
"""The conditions ``repro`` varies between builds, one named variation each.

Level 0 of every variation is the reference build's condition, pinned to a
fixed value (so that a build varying nothing is comparable); levels 1, 2,
... are different conditions. Where a condition needs a tool or privileges
that are missing, the variation falls back to an emulation and says so in
its description: the report never claims more than was done.

A variation only describes: a function of (level, tools, workspace) that
returns a ``Condition``, plain data, so that describing every build for the
report changes nothing; ``builds`` applies conditions when a build runs.
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
from .builds import Condition

REFERENCE_EPOCH = 1700000000            # 2023-11-14, the reference's clock


@dataclasses.dataclass(frozen=True)
class Tools:
    """What this machine allows, probed once per repro run."""
    faketime: bool
    disorderfs: bool
    uts_namespace: bool
    other_user: tuple                   # (uid, gid) of "nobody", or None
    # Why there is no other user (the user variation says it), when none.
    no_other_user: str = "switching users needs root and setpriv"


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


def probe_tools(readable=()):
    """What this machine allows; ``readable``: directories every build must
    read (a kernel tree in kernel mode), which another user may not."""
    return Tools(
        faketime=bool(shutil.which("faketime"))
        and _works(["faketime", "-f", "+1d", "true"]),
        disorderfs=_disorderfs_works(),
        uts_namespace=bool(shutil.which("unshare"))
        and _works(["unshare", "--uts", "--", "hostname", "repro-probe"]),
        **_other_user(readable))


def _other_user(readable=()):
    """{"other_user": (uid, gid) of "nobody"} if this root can run the
    build as it, and it can read this Python's environment and the
    directories in ``readable``; else {"other_user": None,
    "no_other_user": why not}."""
    def without(why):
        return {"other_user": None, "no_other_user": why}
    if os.geteuid() != 0:
        return without("switching users needs root")
    if not shutil.which("setpriv"):
        return without("switching users needs setpriv (util-linux)")
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return without("there is no user 'nobody' to build as")
    user = (entry.pw_uid, entry.pw_gid)
    as_user = reprobuild.as_user_command(user)
    # The environment first: a virtual environment in a 0700 home is the
    # usual reason nobody cannot run this Python with its packages.
    for path in (sys.prefix, *readable):
        if not _works([*as_user, "test", "-r", path, "-a", "-x", path]):
            return without(f"nobody cannot read {path}")
    if not _works([*as_user, sys.executable, "-c", "import SCons, elftools"]):
        return without(f"nobody cannot import SCons and pyelftools with "
                       f"{sys.executable}")
    return {"other_user": user}


def _pick(values, level):
    return values[(level - 1) % len(values)]


def build_path(level, tools, workspace):
    if level == 0:
        tree = workspace / "p0" / "tree"
        return Condition(f"tree at {tree} (shallow)", {"tree": tree})
    tree = (workspace / f"p{level}" / "a" / "much" / "deeper" / "directory"
            / "for" / "the" / "same" / f"sources-{level}")
    return Condition(f"tree at {tree} (deep, another name)", {"tree": tree})


def output_dir(level, tools, workspace):
    if level == 0:
        return Condition("O=build (relative, in the tree)", {"output_dir": "build"})
    if level % 2:
        path = str(workspace / f"o{level}" / "elsewhere" / "out")
        return Condition(f"O={path} (absolute, outside the tree)", {"output_dir": path})
    path = f"../out-{level}"
    return Condition(f"O={path} (relative, outside the tree)", {"output_dir": path})


def time(level, tools, workspace):
    if level == 0:
        return Condition(f"SOURCE_DATE_EPOCH={REFERENCE_EPOCH}, sources dated "
                         "then, real clock",
                         {"mtime": REFERENCE_EPOCH, "faketime": None},
                         env={"SOURCE_DATE_EPOCH": str(REFERENCE_EPOCH)})
    mtime = 1000000000 + 12345678 * level
    if level == 1:
        env, unset = {}, ("SOURCE_DATE_EPOCH",)
        what = "SOURCE_DATE_EPOCH unset"
    else:
        env, unset = {"SOURCE_DATE_EPOCH": str(REFERENCE_EPOCH + 86400 * 400 * level)}, ()
        what = f"SOURCE_DATE_EPOCH={env['SOURCE_DATE_EPOCH']}"
    what += f", sources dated {mtime}"
    faketime = f"+{400 * level}d" if tools.faketime else None
    if faketime:
        what += f", clock {faketime} (faketime)"
    else:
        what += ", real clock (emulated: faketime is not installed)"
    return Condition(what, {"mtime": mtime, "faketime": faketime},
                     env=env, unset=unset)


def timezone(level, tools, workspace):
    # POSIX TZ strings: they need no time zone database.
    tz = "UTC0" if level == 0 else _pick(["XST-14", "NST+3:30", "YST+11"], level)
    return Condition(f"TZ={tz}", env={"TZ": tz})


def locale(level, tools, workspace):
    settings = {"LC_ALL": "C", "LANG": "C"} if level == 0 else _pick(
        [{"LANG": "C.UTF-8", "LANGUAGE": "fr:de"},
         {"LC_ALL": "POSIX", "LC_CTYPE": "C.UTF-8"}], level)
    return Condition(" ".join(f"{k}={v}" for k, v in settings.items()),
                     env=settings, unset=("LC_*", "LANG", "LANGUAGE"))


def umask(level, tools, workspace):
    mask = 0o022 if level == 0 else _pick([0o077, 0o002], level)
    return Condition(f"umask {mask:03o}", {"umask": mask})


def user(level, tools, workspace):
    if level == 0:
        entry = pwd.getpwuid(os.getuid())
        return Condition(f"as {entry.pw_name}", {"user": None},
                         env={"USER": entry.pw_name, "LOGNAME": entry.pw_name,
                              "HOME": entry.pw_dir})
    home = workspace / f"home-{level}"
    if tools.other_user:
        uid = tools.other_user[0]
        name = pwd.getpwuid(uid).pw_name
        what = f"as {name} (uid {uid}, the copy owned by it), HOME={home}"
    else:
        name = f"repro-user-{level}"
        what = (f"USER=LOGNAME={name}, HOME={home} (emulated: "
                f"{tools.no_other_user})")
    return Condition(what, {"user": tools.other_user},
                     env={"HOME": str(home), "USER": name, "LOGNAME": name},
                     directories=(home,))


def hostname(level, tools, workspace):
    if level == 0:
        name = socket.gethostname()
        return Condition(f"host name {name}", {"hostname": None},
                         env={"HOSTNAME": name})
    name = f"repro-host-{level}"
    if tools.uts_namespace:
        return Condition(f"host name {name} (unshare --uts)", {"hostname": name},
                         env={"HOSTNAME": name})
    return Condition(f"HOSTNAME={name} (emulated: unshare --uts is not permitted)",
                     {"hostname": None}, env={"HOSTNAME": name})


def jobs(level, tools, workspace):
    count = 1 if level == 0 else level + 1
    return Condition(f"scons -j{count}", {"jobs": count})


def fs_order(level, tools, workspace):
    if level == 0:
        return Condition("files created in sorted order",
                         {"copy_order": "sorted", "disorder": None})
    order = "reversed" if level % 2 else "shuffled"
    what = f"files created in {order} order"
    if tools.disorderfs:
        disorder = "reverse" if level % 2 else "shuffle"
        what += f", directories listed {disorder}d (disorderfs)"
    else:
        disorder = None
        what += (" (emulated: disorderfs is not usable; the listing order "
                 "follows creation order only on some file systems)")
    return Condition(what, {"copy_order": order, "disorder": disorder})


def cache(level, tools, workspace):
    if level == 0:
        return Condition("no CacheDir", {"cache": False})
    return Condition("outputs retrieved from a CacheDir that a first build "
                     "filled", {"cache": True})


# name -> (describe(level, tools, workspace) -> Condition, one-line summary)
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


def conditions(levels, tools, workspace):
    """Every variation's condition at its level ({name: level}, 0 if absent)."""
    return {name: describe(levels.get(name, 0), tools, workspace)
            for name, (describe, _) in VARIATIONS.items()}


def descriptions(levels, tools, workspace):
    """What the report says of the variations ``levels`` varies (level > 0)."""
    return {name: condition.text for name, condition
            in conditions(levels, tools, workspace).items() if levels.get(name, 0)}


def reference_descriptions(tools, workspace):
    """What the reference build's conditions are, per variation."""
    return {name: condition.text
            for name, condition in conditions({}, tools, workspace).items()}
