"""Splitting deploy output into lines: carry-over, \\r progress, \\r\\n, UTF-8, ANSI."""

import pytest

from atlas_nb.fly._lines import LineSplitter


def split_all(chunks):
    s = LineSplitter()
    out = []
    for chunk in chunks:
        out += s.feed(chunk)
    return out + s.flush()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a\nb\n", [("line", "a"), ("line", "b")]),
        (b"a\r\nb\r\n", [("line", "a"), ("line", "b")]),
        (b"tail", [("line", "tail")]),
        (b"\n\n", [("line", ""), ("line", "")]),
        (b"10%\r20%\r30%\rdone\n", [("progress", "30%"), ("line", "done")]),
        (b"50%\r\n", [("line", "50%")]),
        (b"\x1b[1;32m\xe2\x9c\x93 ok\x1b[0m\n", [("line", "✓ ok")]),
        (b"trailing spaces   \n", [("line", "trailing spaces")]),
        (b"spin\r\r\rdone\n", [("progress", "spin"), ("line", "done")]),
    ],
)
def test_whole_input(data, expected):
    assert split_all([data]) == expected


SAMPLE = (
    "==> Building image\n#1 DONE 0.1s\r\nPushing   0% |   |\rPushing  50% |## |\r"
    "Pushing 100% |###|\r\n✓ Configuration is valid\nno newline"
).encode()


@pytest.mark.parametrize("cut", range(1, len(SAMPLE)))
def test_any_chunk_boundary_gives_the_same_lines(cut):
    """Partial lines (and half a \\r\\n, half a UTF-8 character) are carried over."""
    whole = [p for p in split_all([SAMPLE]) if p[0] == "line"]
    pieces = [p for p in split_all([SAMPLE[:cut], SAMPLE[cut:]]) if p[0] == "line"]
    assert pieces == whole
    assert whole[-1] == ("line", "no newline")
    assert ("line", "Pushing 100% |###|") in whole


def test_byte_by_byte():
    lines = [p for p in split_all([bytes([b]) for b in SAMPLE]) if p[0] == "line"]
    assert lines == [p for p in split_all([SAMPLE]) if p[0] == "line"]


def test_progress_spanning_chunks_is_reported_once_per_chunk():
    s = LineSplitter()
    assert s.feed(b"1%\r2%\r3%\r") == [("progress", "2%")]  # a last \r may start a \r\n
    assert s.feed(b"4%\r") == [("progress", "3%")]
    assert s.feed(b"\n") == [("line", "4%")]  # "4%\r\n" ends a line
