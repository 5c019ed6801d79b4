# SPDX-License-Identifier: GPL-2.0-only
"""The purgatory's own SHA-256 (purgatory/sha256.c) against Python's hashlib.

The sources are built for the host with the purgatory's own C flags into a
shared library with no libc (-nostdlib -Wl,-z,defs): whatever sha256.c needs
beyond itself must come from purgatory/string.c, exactly as in the purgatory.
A small wrapper, compiled with it, feeds the data in pieces.
"""

import ctypes
import hashlib
import random
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO, host_gcc
from kexec_purgatory.build import flags

WRAPPER = r"""
#include "sha256.h"
#include "string.h"

#define EXPORT __attribute__((visibility("default")))

/* Hash data in pieces ending at cuts[0] <= cuts[1] <= ... <= cuts[n - 1]. */
EXPORT void sha256_in_pieces(const u8 *data, const size_t *cuts, size_t n,
			     u8 *digest);
EXPORT int purgatory_memcmp(const void *a, const void *b, size_t len);

void sha256_in_pieces(const u8 *data, const size_t *cuts, size_t n, u8 *digest)
{
	struct sha256_state state;
	size_t i, done = 0;

	sha256_init(&state);
	for (i = 0; i < n; i++) {
		sha256_update(&state, data + done, cuts[i] - done);
		done = cuts[i];
	}
	sha256_final(&state, digest);
}

int purgatory_memcmp(const void *a, const void *b, size_t len)
{
	return memcmp(a, b, len);
}
"""

NIST_MESSAGES = {
    "empty": b"",
    "abc": b"abc",
    "448-bit": b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "896-bit": (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                b"hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
    "million-a": b"a" * 1_000_000,
}


@pytest.fixture(scope="session")
def library(tmp_path_factory):
    """The host build of sha256.c + string.c + the wrapper, loaded."""
    tmp = tmp_path_factory.mktemp("sha256-host")
    wrapper = tmp / "wrapper.c"
    wrapper.write_text(WRAPPER)
    so = tmp / "libpurgatory_sha256.so"
    subprocess.run(
        [host_gcc(), *flags.purgatory_cflags("pic"), "-Werror",
         f"-I{REPO / 'purgatory'}", "-shared", "-nostdlib", "-Wl,-z,defs",
         "-o", str(so), str(wrapper), str(REPO / "purgatory" / "sha256.c"),
         str(REPO / "purgatory" / "string.c")],
        check=True, capture_output=True, text=True)
    lib = ctypes.CDLL(str(so))
    lib.sha256_in_pieces.argtypes = [ctypes.c_void_p,
                                     ctypes.POINTER(ctypes.c_size_t),
                                     ctypes.c_size_t, ctypes.c_char_p]
    lib.sha256_in_pieces.restype = None
    lib.purgatory_memcmp.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                     ctypes.c_size_t]
    lib.purgatory_memcmp.restype = ctypes.c_int
    return lib


def purgatory_sha256(lib, data, cuts=(), offset=0):
    """Digest of ``data`` fed in pieces ending at ``cuts``, read from a
    buffer where it starts ``offset`` bytes in (to vary its alignment)."""
    ends = sorted(cuts) + [len(data)]
    buffer = ctypes.create_string_buffer(bytes(offset) + data, offset + len(data))
    digest = ctypes.create_string_buffer(32)
    lib.sha256_in_pieces(ctypes.addressof(buffer) + offset,
                         (ctypes.c_size_t * len(ends))(*ends), len(ends), digest)
    return digest.raw


@pytest.mark.parametrize("message", NIST_MESSAGES.values(), ids=NIST_MESSAGES)
def test_nist_messages_hash_like_hashlib(library, message):
    assert purgatory_sha256(library, message) == hashlib.sha256(message).digest()


def test_every_length_from_0_to_300_hashes_like_hashlib(library):
    rng = random.Random(20261125)
    for length in range(301):
        data = rng.randbytes(length)
        assert purgatory_sha256(library, data) == hashlib.sha256(data).digest(), length


def test_input_at_any_alignment_hashes_like_hashlib(library):
    data = random.Random(7).randbytes(1000)
    for offset in range(8):
        assert (purgatory_sha256(library, data, offset=offset)
                == hashlib.sha256(data).digest()), offset


@st.composite
def data_and_cuts(draw):
    # Uniform lengths: hypothesis alone favours short inputs, which rarely
    # span a block boundary after a partial update.
    length = draw(st.integers(0, 700))
    data = draw(st.binary(min_size=length, max_size=length))
    anywhere = st.integers(0, length)
    # Pieces ending at, just before or just after a 64-byte block boundary.
    near_boundary = st.builds(
        lambda block, delta: min(max(64 * block + delta, 0), length),
        st.integers(0, length // 64 + 1), st.sampled_from((-1, 0, 1)))
    cuts = draw(st.lists(st.one_of(anywhere, near_boundary), max_size=12))
    return data, cuts


@settings(deadline=None)
@given(data_and_cuts())
def test_updates_split_at_arbitrary_points_hash_like_one_update(library, case):
    data, cuts = case
    assert purgatory_sha256(library, data, cuts) == hashlib.sha256(data).digest()


@given(st.binary(max_size=40), st.binary(max_size=40))
def test_memcmp_orders_like_python_bytes_over_the_common_length(library, a, b):
    length = min(len(a), len(b))
    expected = (a[:length] > b[:length]) - (a[:length] < b[:length])
    result = library.purgatory_memcmp(a, b, length)
    assert (result > 0) - (result < 0) == expected
