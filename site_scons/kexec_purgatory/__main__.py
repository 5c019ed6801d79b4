# SPDX-License-Identifier: GPL-2.0-only
"""``python -m kexec_purgatory`` is the same as the ``kexec-purgatory`` script."""

import sys

from .cli import main

sys.exit(main())
