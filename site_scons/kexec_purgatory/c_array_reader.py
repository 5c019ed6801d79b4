# SPDX-License-Identifier: GPL-2.0-only
"""Reading a generated C array back into the bytes a kernel would embed.

``diff`` and ``repro`` compare what a kexec-purgatory.c holds, whoever
wrote it: this project's writer (``embed.c_array``), the kernel's old bin2c
(a string literal of ``\\xHH`` escapes sized by ``sizeof - 1``) or a
``{0x.., ...}`` initializer list.
"""

import re

from .errors import UserError

_C_TOKEN = re.compile(r"""
      (?P<comment>/\*.*?\*/|//[^\n]*)
    | (?P<directive>^[ \t]*\#[^\n]*)
    | (?P<string>"(?:\\.|[^"\\\n])*")
    | (?P<char>'(?:\\.|[^'\\\n])+')
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<number>[0-9][0-9A-Za-z]*)
    | (?P<space>\s+)
    | (?P<punct>.)
    """, re.VERBOSE | re.DOTALL | re.MULTILINE)

_C_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]+|[0-7]{1,3}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11,
                   "\\": 92, "'": 39, '"': 34, "?": 63}


def _c_tokens(text):
    return [(m.lastgroup, m.group()) for m in _C_TOKEN.finditer(text)
            if m.lastgroup not in ("comment", "directive", "space")]


def _unescape(literal, name):
    """The bytes of a C string or character literal's body."""
    out = bytearray()
    pos = 0
    body = literal[1:-1]
    for m in _C_ESCAPE.finditer(body):
        out += body[pos:m.start()].encode()
        pos = m.end()
        code = m.group(1)
        if code[0] == "x":
            value = int(code[1:], 16)
        elif code[0] in "01234567":
            value = int(code, 8)
        elif code in _SIMPLE_ESCAPES:
            value = _SIMPLE_ESCAPES[code]
        else:
            raise UserError(f"{name}: unknown escape \\{code} in {literal[:20]}")
        if value > 0xff:
            raise UserError(f"{name}: escape \\{code} is not a byte")
        out.append(value)
    out += body[pos:].encode()
    return bytes(out)


def _c_integer(token, name):
    kind, text = token
    if kind == "char":
        value = _unescape(text, name)
        if len(value) == 1:
            return value[0]
    elif kind == "number":
        digits = text.rstrip("uUlL")
        try:
            return int(digits, 0) if not re.fullmatch(r"0[0-7]+", digits) \
                else int(digits, 8)
        except ValueError:
            pass
    raise UserError(f"{name}: {text!r} is not a byte value in the array")


def _array_declaration(tokens, name):
    """Index of the first ``char NAME [`` and the array's name."""
    for i in range(len(tokens) - 2):
        if tokens[i] == ("word", "char") and tokens[i + 1][0] == "word" \
                and tokens[i + 2] == ("punct", "["):
            return i + 1, tokens[i + 1][1]
    raise UserError(f"{name}: no C byte array (char NAME[] = ...) found")


def _initializer(tokens, at, name):
    """The bytes of the initializer starting at ``tokens[at]``."""
    braced = tokens[at] == ("punct", "{")
    data = bytearray()
    expect_value = True
    for kind, text in tokens[at + braced:]:
        if (kind, text) == ("punct", "}" if braced else ";"):
            return bytes(data)
        if kind == "string":
            data += _unescape(text, name)
        elif braced and (kind, text) == ("punct", ","):
            expect_value = True
        elif braced and expect_value:
            value = _c_integer((kind, text), name)
            if not 0 <= value <= 0xff:
                raise UserError(f"{name}: {text} is not a byte value in the array")
            data.append(value)
            expect_value = False
        else:
            raise UserError(f"{name}: unexpected {text!r} in the array's initializer")
    raise UserError(f"{name}: the array's initializer is not terminated")


def read_c_array(text, name):
    """(array symbol, bytes) of the first C byte array in ``text``.

    The size is the declared bound when there is one; a ``size_t`` variable
    set to a number after the array, as this writer emits, must agree.
    """
    tokens = _c_tokens(text)
    at, symbol = _array_declaration(tokens, name)
    bound = None
    close = tokens.index(("punct", "]"), at)
    if close == at + 3:
        bound = _c_integer(tokens[at + 2], name)
    try:
        equals = tokens.index(("punct", "="), close)
    except ValueError:
        raise UserError(f"{name}: array {symbol} has no initializer") from None
    data = _initializer(tokens, equals + 1, name)
    if bound is not None:
        if len(data) > bound:
            raise UserError(f"{name}: array {symbol}[{bound}] holds "
                            f"{len(data)} bytes")
        data += bytes(bound - len(data))
    size = _size_variable(tokens, name)
    if size is not None and size != len(data):
        raise UserError(f"{name}: size variable says {size} bytes, "
                        f"array {symbol} holds {len(data)}")
    return symbol, data


def _size_variable(tokens, name):
    """The value of ``size_t NAME = NUMBER;`` if the file has one."""
    for i in range(len(tokens) - 4):
        if tokens[i] == ("word", "size_t") and tokens[i + 1][0] == "word" \
                and tokens[i + 2] == ("punct", "=") \
                and tokens[i + 3][0] == "number" \
                and tokens[i + 4] == ("punct", ";"):
            return _c_integer(tokens[i + 3], name)
    return None
