#!/usr/bin/env python3
"""utf8_replace_cases.py — reference outputs of CPython's bytes.decode("utf-8", "replace")
(U+FFFD per maximal subpart) for the streaming UTF-8 decoder's tests.

Usage: /usr/bin/python3 utf8_replace_cases.py > ../../tests/data/tokenizer_cases.utf8.jsonl
Each line: {"in": HEX, "out": HEX of the decoded text re-encoded as UTF-8}.
"""
import json
import random

cases = [
    b"", b"hello", b"caf\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80",
    # truncated sequences
    b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"a\xf0\x9fb", b"\xe2\x82A", b"\xf0\x9f\x98A",
    # bytes that never start a sequence, lone continuations
    b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xf5\x80\x80\x80", b"\xff", b"\xfe\xff",
    b"\x80\x80\x80",
    # overlong / surrogate / beyond U+10FFFF: second-byte ranges
    b"\xe0\x80\xaf", b"\xe0\x9f\xbf", b"\xe0\xa0\x80", b"\xed\xa0\x80", b"\xed\x9f\xbf",
    b"\xed\xbf\xbf", b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xf0\x90\x80\x80",
    b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80",
    # Unicode ch. 3 / WHATWG example
    b"\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
    b"\xc2\x00", b"\x00", b"a\x00b",
]
rng = random.Random(3)
frags = [b"a", b" ", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xc3", b"\xe2\x82",
         b"\xf0\x9f", b"\xf0\x9f\x98", b"\x80", b"\xbf", b"\xff", b"\xed\xa0", b"\xe0\x80",
         b"\xf4\x90", b"\xc0", b"\x00"]
for _ in range(300):
    if rng.random() < 0.5:
        s = b"".join(rng.choice(frags) for _ in range(rng.randrange(1, 12)))
    else:
        s = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 24)))
    cases.append(s)
for s in cases:
    out = s.decode("utf-8", "replace").encode("utf-8")
    print(json.dumps({"in": s.hex(), "out": out.hex()}))
