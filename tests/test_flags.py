# SPDX-License-Identifier: GPL-2.0-only
"""Which user flags reach a purgatory compile, and in what order."""

import pytest

from kexec_purgatory.build import flags
from kexec_purgatory.errors import UserError

FEDORA_CFLAGS = (
    "-O2 -flto=auto -ffat-lto-objects -fexceptions -g -grecord-gcc-switches "
    "-pipe -Wall -Werror=format-security "
    "-Wp,-U_FORTIFY_SOURCE,-D_FORTIFY_SOURCE=3 -Wp,-D_GLIBCXX_ASSERTIONS "
    "-specs=/usr/lib/rpm/redhat/redhat-hardened-cc1 -fstack-protector-strong "
    "-m64 -march=x86-64-v2 -mtune=generic -fasynchronous-unwind-tables "
    "-fstack-clash-protection -fcf-protection")


@pytest.mark.parametrize("flag", [
    "-fstack-protector", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2",
    "-fcf-protection=full", "-pg", "-mfentry", "-mrecord-mcount", "-flto=auto",
    "-fprofile-use", "-fsanitize=address", "-fPIE", "-fpie", "-pie",
    "-mfunction-return=thunk-extern", "-mindirect-branch=thunk",
    "-fzero-call-used-regs=used", "-g", "-g3", "-ggdb", "-march=native",
    "-march=x86-64-v3", "-mtune=skylake", "-O3", "-ftree-vectorize", "-mavx2",
    "-mcmodel=kernel",
])
def test_flag_that_breaks_a_freestanding_purgatory_is_dropped(flag):
    assert flags.filter_user_flags([flag]) == ([], [flag])


@pytest.mark.parametrize("flag", [
    "-O2", "-Os", "-Wall", "-Wformat", "-Werror=format-security",
    "-ffile-prefix-map=/build=.", "-march=x86-64", "-mtune=generic",
    "-Wdate-time", "-DFOO=1", "-fstack-clash-protection",
])
def test_harmless_flag_is_kept(flag):
    assert flags.filter_user_flags([flag]) == ([flag], [])


def test_separate_argument_stays_with_its_flag():
    kept, dropped = flags.filter_user_flags(
        ["-include", "-g.h", "-D", "_FORTIFY_SOURCE=2", "-I", "inc"])
    assert kept == ["-include", "-g.h", "-I", "inc"]
    assert dropped == ["-D", "_FORTIFY_SOURCE=2"]


def test_fedora_rpm_flags_keep_only_what_is_safe():
    kept, _ = flags.filter_user_flags(flags.split_flags(FEDORA_CFLAGS, "CFLAGS"))
    assert kept == ["-O2", "-pipe", "-Wall", "-Werror=format-security",
                    "-Wp,-D_GLIBCXX_ASSERTIONS", "-m64", "-mtune=generic",
                    "-fstack-clash-protection"]


def test_mandatory_flags_come_after_user_flags():
    cflags = flags.purgatory_cflags("pic", ["-fstack-clash-protection"])
    assert cflags.index("-fstack-clash-protection") < cflags.index("-fno-stack-protector")
    assert cflags[-3:] == ["-fpic", "-mcmodel=small", "-fvisibility=hidden"]


def test_unknown_code_model_is_named():
    with pytest.raises(UserError, match="CODE_MODEL.*'kernel'"):
        flags.purgatory_cflags("kernel")


def test_unbalanced_quotes_in_cflags_are_an_error_naming_the_variable():
    with pytest.raises(UserError, match="CFLAGS"):
        flags.split_flags('-DX="unterminated', "CFLAGS")


def test_dropped_message_names_each_variable_once():
    message = flags.dropped_message({"CFLAGS": ["-g", "-pg"], "CPPFLAGS": []})
    assert message.count("CFLAGS") == 1 and "-g -pg" in message
    assert flags.dropped_message({"CFLAGS": []}) is None
