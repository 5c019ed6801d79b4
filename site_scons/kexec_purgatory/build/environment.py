# SPDX-License-Identifier: GPL-2.0-only
"""The environment the build's commands run in.

SCons runs commands with a minimal environment; the purgatory's commands
get the user's PATH (so CROSS_COMPILE toolchains and ccache-free compilers
are found as in a shell), a fixed locale and time zone (so tool messages
and anything time-formatted are the same everywhere), SOURCE_DATE_EPOCH
when the caller set it, and what a compiler farm or cache in ``CC`` needs
(``CC="distcc gcc"``: DISTCC_HOSTS..., icecream's ICECC_*, ccache's
CCACHE_*, and HOME and TMPDIR where they keep their state); none of these
changes what the compiler writes.
"""

PASSED_THROUGH = ("PATH", "SOURCE_DATE_EPOCH", "HOME", "TMPDIR")
PASSED_THROUGH_PREFIXES = ("DISTCC_", "ICECC_", "CCACHE_")

FIXED = {"LC_ALL": "C", "TZ": "UTC"}


def command_environment(environ):
    """The ENV for the build's commands, from the caller's ``os.environ``."""
    env = {name: value for name, value in environ.items()
           if name in PASSED_THROUGH or name.startswith(PASSED_THROUGH_PREFIXES)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(FIXED)
    return env


def quiet_line(tag, node="$TARGET"):
    """A Kbuild-style progress line: two spaces, the tag in 8 columns, then
    the file the step makes (or, for a check, the file it reads)."""
    return f"  {tag:<8}{node}"
