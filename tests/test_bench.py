# SPDX-License-Identifier: GPL-2.0-only
"""bench/run.py --quick: runs end to end and reports every figure.

No timing is asserted: the figures depend on the machine. What is checked
is that each figure is either measured (a positive number, its target met
or not) or says why it is not, and that the table lists them all.
"""

import json
import subprocess
import sys

import pytest

from conftest import REPO

FIGURES = ("clean_build_ratio", "null_build_ratio", "null_build_vs_make",
           "embed_throughput_ratio", "embed_compile_ratio",
           "sha256_insn_per_byte", "sha256_insn_per_byte_bmi2",
           "sha256_vs_linux_ratio", "sha256_kexec_ms_saved",
           "sha256_native_mbps", "kexec_boot_ratio", "check_ms",
           "kernel_clean_build_ratio", "kernel_null_build_ratio",
           "kernel_null_build_ms")


@pytest.mark.slow
def test_quick_run_writes_json_and_table_with_every_figure(tmp_path):
    results, table = tmp_path / "results.json", tmp_path / "BENCHMARKS.md"
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick",
         "--json", str(results), "--markdown", str(table)],
        capture_output=True, text=True)
    assert run.returncode == 0, run.stderr

    data = json.loads(results.read_text())
    assert data["quick"] is True and data["reps"] == 1
    assert data["machine"]["cores"] >= 1
    assert set(data["figures"]) == set(FIGURES)
    for key, figure in data["figures"].items():
        if figure["value"] is None:
            assert figure["note"].startswith("not measured: "), key
        else:
            assert figure["value"] > 0, key
            informative = figure["target"] == "(information)"
            assert isinstance(figure["met"], bool) != informative, key
    # The builds compared are the same build.
    assert data["figures"]["clean_build_ratio"]["outputs_identical"] is True

    text = table.read_text()
    for key in FIGURES:
        assert f"| `{key}` |" in text
