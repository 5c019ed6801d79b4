# SPDX-License-Identifier: GPL-2.0-only
"""kexec-purgatory repro: builds of this tree under varied conditions are
identical, and a non-reproducible tree is caught and explained."""

import json

import pytest

from conftest import kexec_purgatory_cli, run_scons
from kexec_purgatory.repro import reproduce as repro, variations
from kexec_purgatory.errors import UserError


def test_repro_of_this_tree_with_all_variations_exits_0_and_prints_the_common_sha256(tree):
    result = kexec_purgatory_cli("repro", tree, "--vary", "all")
    assert result.returncode == 0, result.stdout + result.stderr
    run_scons(tree)
    digest = repro.sha256((tree / "build" / "purgatory.ro").read_bytes())
    assert f"{digest}  purgatory.ro" in result.stdout
    assert "reproducible: all 2 builds gave the same files" in result.stdout
    for name in variations.VARIATIONS:       # each one was really varied
        assert f"\n  {name:<11} reference:" in result.stdout, name


def narrowed(result):
    assert result.returncode == 1, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_a_source_using_date_and_time_is_caught_in_rodata_and_blamed_on_time(tree):
    source = tree / "purgatory" / "purgatory.c"
    source.write_text(source.read_text() + "\nconst char purgatory_built[] = "
                      "__DATE__ \" \" __TIME__;\n")
    report = narrowed(kexec_purgatory_cli("repro", tree, "--json"))
    assert report["causes"] == ["time"]
    assert report["narrowed"]["time"]["files"] == {
        "purgatory.ro": "sections .rodata",
        "purgatory.buildinfo": "fields outputs, purgatory.ro",
        "kexec-purgatory.c": "holds each build's own purgatory.ro",
        "kexec-purgatory.S": "holds each build's own purgatory.ro"}
    text = repro.format_report(report)
    assert "cause: time" in text
    assert any(line.startswith("  time ") and "DIFFERS" in line and ".rodata" in line
               for line in text)


@pytest.mark.slow
def test_a_debug_info_build_without_path_map_is_blamed_on_build_path(tree):
    report = narrowed(kexec_purgatory_cli("repro", tree, "--json",
                              "--set", "PURGATORY_TEST_DEBUG=1"))
    assert report["causes"] == ["build_path"]
    found = report["narrowed"]["build_path"]["files"]["purgatory.ro"]
    assert ".debug_line_str" in found or ".debug_str" in found
    assert not report["narrowed"][repro.CONTROL]["differs"]


def test_a_tree_that_does_not_build_exits_2_naming_the_build(tree):
    (tree / "purgatory" / "string.c").write_text("this is not C\n")
    result = kexec_purgatory_cli("repro", tree, "--vary", "jobs")
    assert result.returncode == 2
    assert "build reference failed" in result.stderr


@pytest.mark.parametrize("assignment", ["O=out", "CACHEDIR=/tmp/c", "novalue", "=x"])
def test_set_refuses_what_repro_chooses_itself_and_malformed_assignments(tree, assignment):
    result = kexec_purgatory_cli("repro", tree, "--set", assignment)
    assert result.returncode == 2
    assert "--set:" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("text, chosen", [
    ("all", list(variations.VARIATIONS)),
    ("time,jobs", ["time", "jobs"]),
    ("jobs,time", ["time", "jobs"]),
    ("all,-cache,-user", [n for n in variations.VARIATIONS if n not in ("cache", "user")]),
])
def test_vary_chooses_and_excludes_variations_by_name(text, chosen):
    assert repro.parse_vary(text) == chosen


@pytest.mark.parametrize("text", ["nope", "-all", "time,-time"])
def test_vary_refuses_unknown_names_and_empty_choices(text):
    with pytest.raises(UserError, match="--vary"):
        repro.parse_vary(text)


def test_scons_verify_reproducible_runs_repro_with_the_builds_variables(tree):
    result = run_scons(tree, "verify-reproducible", "CODE_MODEL=large", "V=1")
    assert "--set=CODE_MODEL=large" in result.stdout
    assert "reproducible: all 2 builds gave the same files" in result.stdout


def test_without_tools_or_privileges_variations_say_they_are_emulated(tmp_path):
    none = variations.Tools(faketime=False, disorderfs=False,
                            uts_namespace=False, other_user=None)
    setup = repro.reprobuild.BuildSetup(label="x", workspace=tmp_path, env={})
    described = variations.apply(setup, {name: 1 for name in variations.VARIATIONS}, none)
    for name in ("time", "user", "hostname", "fs_order"):
        assert "emulated" in described[name], name
    assert setup.hostname is None and setup.user is None
    assert setup.disorder is None and setup.faketime is None
    assert setup.env["HOSTNAME"] == "repro-host-1"
    assert setup.env["USER"] == setup.env["LOGNAME"] == "repro-user-1"
    assert "SOURCE_DATE_EPOCH" not in setup.env and setup.copy_order == "reversed"
