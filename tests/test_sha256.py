# SPDX-License-Identifier: GPL-2.0-only
"""The purgatory's own SHA-256 against Python's hashlib, on every path.

The sources (purgatory/sha256.c, arch/x86/sha256-ni.S) are built for the
host with the purgatory's own flags into a shared library with no libc
(-nostdlib -Wl,-z,defs): whatever they need beyond themselves must come
from purgatory/string.c, exactly as in the purgatory. A small wrapper feeds
the data in pieces, with purgatory_sha256_path set first to force a path
(generic, bmi2, sha-ni) or left 0 for the CPUID dispatch to choose. A path
this machine's CPU cannot run is skipped, naming the missing CPU flag.
"""

import ctypes
import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tree_purgatory
from kexec_purgatory.abi.x86_64 import SHA256_PATH_CPU_FLAGS

WRAPPER = r"""
#include "sha256.h"
#include "string.h"

#define EXPORT __attribute__((visibility("default")))

/* Hash data in pieces ending at cuts[0] <= cuts[1] <= ... <= cuts[n - 1]
 * on the given path (0: CPUID's choice); returns the path taken. */
EXPORT int sha256_in_pieces(const u8 *data, const size_t *cuts, size_t n,
			    u8 *digest, int path);
EXPORT int purgatory_memcmp(const void *a, const void *b, size_t len);

int sha256_in_pieces(const u8 *data, const size_t *cuts, size_t n, u8 *digest,
		     int path)
{
	struct sha256_state state;
	size_t i, done = 0;

	purgatory_sha256_path = path;
	sha256_init(&state);
	for (i = 0; i < n; i++) {
		sha256_update(&state, data + done, cuts[i] - done);
		done = cuts[i];
	}
	sha256_final(&state, digest);
	return purgatory_sha256_path;
}

int purgatory_memcmp(const void *a, const void *b, size_t len)
{
	return memcmp(a, b, len);
}
"""

# The CPU flags (/proc/cpuinfo) each forced path needs, as the dispatch
# checks them with CPUID.
NEEDS = SHA256_PATH_CPU_FLAGS


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def best_path(flags):
    for path in ("sha-ni", "bmi2"):
        if set(NEEDS[path]) <= flags:
            return path
    return "generic"


@pytest.fixture(scope="session")
def library(tmp_path_factory):
    """The host build of sha256.c + string.c + sha256-ni.S + the wrapper."""
    lib = tree_purgatory.host_library(tmp_path_factory.mktemp("sha256-host"),
                                      WRAPPER)
    lib.sha256_in_pieces.argtypes = [ctypes.c_void_p,
                                     ctypes.POINTER(ctypes.c_size_t),
                                     ctypes.c_size_t, ctypes.c_char_p,
                                     ctypes.c_int]
    lib.sha256_in_pieces.restype = ctypes.c_int
    lib.purgatory_memcmp.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                     ctypes.c_size_t]
    lib.purgatory_memcmp.restype = ctypes.c_int
    return lib


@pytest.fixture(params=sorted(NEEDS))
def path(request):
    """Each path, skipped where this CPU lacks what it needs."""
    missing = [f for f in NEEDS[request.param] if f not in cpu_flags()]
    if missing:
        pytest.skip(f"this CPU cannot run the {request.param} path "
                    f"(no {', '.join(missing)} in /proc/cpuinfo)")
    return request.param


def purgatory_sha256(lib, data, cuts=(), offset=0, path="generic"):
    """Digest of ``data`` fed in pieces ending at ``cuts``, read from a
    buffer where it starts ``offset`` bytes in (to vary its alignment)."""
    ends = sorted(cuts) + [len(data)]
    buffer = ctypes.create_string_buffer(bytes(offset) + data, offset + len(data))
    digest = ctypes.create_string_buffer(32)
    forced = tree_purgatory.PATHS[path]
    taken = lib.sha256_in_pieces(ctypes.addressof(buffer) + offset,
                                 (ctypes.c_size_t * len(ends))(*ends),
                                 len(ends), digest, forced)
    assert not forced or taken == forced
    return digest.raw


NIST_MESSAGES = {
    "empty": b"",
    "abc": b"abc",
    "448-bit": b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "896-bit": (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                b"hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
    "million-a": b"a" * 1_000_000,
}


@pytest.mark.parametrize("message", NIST_MESSAGES.values(), ids=NIST_MESSAGES)
def test_nist_messages_hash_like_hashlib(library, path, message):
    assert (purgatory_sha256(library, message, path=path)
            == hashlib.sha256(message).digest())


def test_every_length_from_0_to_300_hashes_like_hashlib(library, path):
    rng = random.Random(20261125)
    for length in range(301):
        data = rng.randbytes(length)
        assert (purgatory_sha256(library, data, path=path)
                == hashlib.sha256(data).digest()), length


def test_random_buffers_up_to_1_mib_hash_like_hashlib(library, path):
    rng = random.Random(16)
    for length in [1 << 20, (1 << 20) - 1, *(rng.randrange(1 << 20) for _ in range(6))]:
        data = rng.randbytes(length)
        assert (purgatory_sha256(library, data, path=path)
                == hashlib.sha256(data).digest()), length


def test_input_at_every_alignment_0_to_63_hashes_like_hashlib(library, path):
    data = random.Random(7).randbytes(1000)
    for offset in range(64):
        assert (purgatory_sha256(library, data, offset=offset, path=path)
                == hashlib.sha256(data).digest()), offset


def test_dispatch_takes_the_best_path_this_cpu_has(library):
    data = b"x" * 200
    digest = ctypes.create_string_buffer(32)
    taken = library.sha256_in_pieces(data, (ctypes.c_size_t * 1)(len(data)), 1,
                                     digest, tree_purgatory.PATHS["auto"])
    assert taken == tree_purgatory.PATHS[best_path(cpu_flags())]
    assert digest.raw == hashlib.sha256(data).digest()


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
    for path in sorted(NEEDS):
        if set(NEEDS[path]) <= cpu_flags():
            assert (purgatory_sha256(library, data, cuts, path=path)
                    == hashlib.sha256(data).digest()), path


@given(st.binary(max_size=40), st.binary(max_size=40))
def test_memcmp_orders_like_python_bytes_over_the_common_length(library, a, b):
    length = min(len(a), len(b))
    expected = (a[:length] > b[:length]) - (a[:length] < b[:length])
    result = library.purgatory_memcmp(a, b, length)
    assert (result > 0) - (result < 0) == expected
