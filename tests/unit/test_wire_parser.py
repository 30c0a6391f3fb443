"""Property tests for the lean transport's response parser (atlas_nb.transport.wire)."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_nb.transport.wire import ChunkedDecoder, ResponseHead, parse_status_line

bodies = st.lists(st.binary(min_size=1, max_size=50), max_size=8)
tokens = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).map(str.encode)
values = st.binary(max_size=30).map(
    lambda b: bytes(c for c in b if c not in b"\r\n\0").strip(b" \t")
)


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


def encode_chunked(chunks: list[bytes], trailers: list[tuple[bytes, bytes]]) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return out + b"0\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in trailers) + b"\r\n"


@given(bodies, st.lists(st.tuples(tokens, values), max_size=3), st.lists(st.integers(0, 10**6)))
def test_chunked_round_trips_in_any_split(chunks, trailers, cuts):
    wire = encode_chunked(chunks, trailers) + b"NEXT"
    d = ChunkedDecoder()
    got = []
    for piece in splits(wire, cuts):
        if d.done:
            break
        got += d.feed(piece)
    assert d.done and b"".join(got) == b"".join(chunks)


@given(
    st.integers(100, 599),
    st.lists(st.tuples(tokens, values), max_size=6),
    st.binary(max_size=40),
    st.lists(st.integers(0, 10**6)),
)
def test_head_parses_in_any_split(status, headers, rest, cuts):
    wire = b"HTTP/1.1 %d Reason here\r\n" % status
    wire += b"".join(n + b": " + v + b"\r\n" for n, v in headers) + b"\r\n" + rest
    p = ResponseHead()
    parsed = None
    for piece in splits(wire, cuts):
        if parsed is None:
            parsed = p.feed(piece)
        else:
            p.rest += piece
    assert parsed == (status, b"Reason here", headers)
    assert p.rest == rest


@given(st.binary(max_size=200))
def test_garbage_raises_protocol_error_or_waits(data):
    for parser in (ResponseHead(), ChunkedDecoder()):
        try:
            parser.feed(data)
        except httpx.RemoteProtocolError:
            pass


@pytest.mark.parametrize(
    "line", [b"HTTP/2 200 OK", b"HTTP/1.1 20 OK", b"HTTP/1.1 abc OK", b"garbage", b""]
)
def test_malformed_status_lines(line):
    with pytest.raises(httpx.RemoteProtocolError):
        parse_status_line(line)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: x\r\n\r\n",
    ],
)
def test_malformed_headers(head):
    with pytest.raises(httpx.RemoteProtocolError):
        ResponseHead().feed(head)


@pytest.mark.parametrize("wire", [b"zz\r\n", b"2\r\nhiXX", b"-1\r\n", b"1" * 2000])
def test_malformed_chunks(wire):
    with pytest.raises(httpx.RemoteProtocolError):
        ChunkedDecoder().feed(wire)
