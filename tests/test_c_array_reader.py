# SPDX-License-Identifier: GPL-2.0-only
"""Reading a C byte array back: this project's kexec-purgatory.c, the
kernel's old bin2c output, and plain initializer lists."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kexec_purgatory.formats import c_array
from kexec_purgatory.errors import UserError


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_reader_gives_back_exactly_what_the_writer_embedded(data):
    text = c_array.c_array(data, "purgatory.ro", "blob", "blob_size").decode()
    assert c_array.read_c_array(text, "k.c") == ("blob", data)


def test_reader_takes_kernel_bin2c_string_without_its_terminating_nul():
    text = ('#include <linux/types.h>\n'
            'const char kexec_purgatory[] =\n"\\x7f\\x45LF\\0"\n"\\101\\n";\n'
            'const size_t kexec_purgatory_size = sizeof(kexec_purgatory) - 1;\n')
    assert c_array.read_c_array(text, "k.c") == ("kexec_purgatory", b"\x7fELF\x00A\n")


def test_reader_takes_an_initializer_list_of_hex_decimal_octal_and_chars():
    text = "/* [x] */ static unsigned char a[6] = { 0x7f, 69, 0114, 'F', };"
    assert c_array.read_c_array(text, "k.c") == ("a", b"\x7fELF\x00\x00")


def test_reader_refuses_a_size_variable_that_disagrees_with_the_array():
    text = 'const unsigned char a[2] = "\\x01\\x02";\nconst size_t a_size = 3;\n'
    with pytest.raises(UserError, match="size variable says 3 bytes.*holds 2"):
        c_array.read_c_array(text, "k.c")


@pytest.mark.parametrize("text, message", [
    ("int x = 1;", "no C byte array"),
    ('const char a[1] = "\\x01\\x02";', r"a\[1\] holds 2 bytes"),
    ("const char a[] = { 0x100 };", "not a byte value"),
    ('const char a[] = "\\x01"', "not terminated"),
])
def test_reader_names_what_is_wrong_with_a_bad_array(text, message):
    with pytest.raises(UserError, match=message):
        c_array.read_c_array(text, "k.c")
