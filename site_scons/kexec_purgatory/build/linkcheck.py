# SPDX-License-Identifier: GPL-2.0-only
"""The undefined-symbol gate: a full link of purgatory.ro that is thrown away.

``ld -r`` accepts undefined symbols (``--no-undefined`` has no effect with
``-r``), and the kernel only notices them at kexec time. Linking the object
once more as an executable makes the linker resolve every reference, so an
unresolved one fails the build here, by name.
"""

import re
import subprocess

from ..errors import UserError

_UNDEFINED = re.compile(r"undefined reference to [`'\u2018]([^'\u2019]+)['\u2019]")


def link_command(ld, relocatable, output, entry="purgatory_start"):
    """The ld command line of the full link."""
    return [ld, "-e", entry, "-z", "nodefaultlib", "-z", "noexecstack",
            "-o", output, relocatable]


def undefined_symbols(linker_output):
    """Names the linker reported as undefined, in order, without repeats."""
    return list(dict.fromkeys(_UNDEFINED.findall(linker_output)))


def check_link(command, relocatable, env=None):
    """Run the full link; raise UserError naming what is undefined."""
    try:
        result = subprocess.run(command, env=env, capture_output=True,
                                text=True, errors="replace")
    except OSError as e:
        raise UserError(f"{command[0]}: cannot run the linker: {e.strerror} "
                        "(set LD= or CROSS_COMPILE=)") from None
    output = result.stdout + result.stderr
    if result.returncode == 0:
        return output
    names = undefined_symbols(output)
    if names:
        raise UserError(f"{relocatable}: undefined symbol"
                        f"{'s' if len(names) > 1 else ''}: {', '.join(names)}",
                        exit_code=1)
    first = next((line for line in output.splitlines() if line.strip()),
                 f"exit status {result.returncode}")
    raise UserError(f"{relocatable}: full link failed: {first}", exit_code=1)
