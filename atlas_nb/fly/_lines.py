"""Turn a process's output chunks into lines: partial lines carried over, ``\\r`` handled.

``\\n`` and ``\\r\\n`` end a line. A bare ``\\r`` ends a *progress* update (a spinner or a
percentage redrawn in place); of several progress updates in one chunk only the last is kept,
so a redrawing progress bar does not flood the output. ANSI colour codes are stripped.

    >>> s = LineSplitter()
    >>> s.feed(b"building\\nPushing  10%\\rPushing  60%\\rPush")
    [('line', 'building'), ('progress', 'Pushing  60%')]
    >>> s.feed(b"ing 100%\\r\\ndone\\n")
    [('line', 'Pushing 100%'), ('line', 'done')]
    >>> s.feed(b"no newline at the end")
    []
    >>> s.flush()
    [('line', 'no newline at the end')]
"""

from __future__ import annotations

import codecs
import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")

Piece = tuple[str, str]  # (kind, text): kind is "line" or "progress"


class LineSplitter:
    """Incremental splitter; feed bytes (or str), get complete ``(kind, text)`` pieces."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._buf = ""

    def feed(self, data: bytes | str) -> list[Piece]:
        text = data if isinstance(data, str) else self._decoder.decode(data)
        buf = self._buf + text
        out: list[Piece] = []
        start = 0
        i = 0
        n = len(buf)
        while i < n:
            ch = buf[i]
            if ch == "\n":
                out.append(("line", buf[start:i]))
                start = i = i + 1
                continue
            if ch == "\r":
                if i + 1 == n:  # maybe the first half of "\r\n": decide on the next chunk
                    break
                if buf[i + 1] == "\n":
                    out.append(("line", buf[start:i]))
                    start = i = i + 2
                    continue
                out.append(("progress", buf[start:i]))
                start = i = i + 1
                continue
            i += 1
        self._buf = buf[start:]
        return _collapse(out)

    def flush(self) -> list[Piece]:
        """What is left at end of output (a last line without a newline)."""
        rest = self._buf + self._decoder.decode(b"", final=True)
        self._buf = ""
        rest = rest.rstrip("\r")
        return _collapse([("line", rest)]) if rest else []


def _clean(text: str) -> str:
    return _ANSI.sub("", text).rstrip()


def _collapse(pieces: list[Piece]) -> list[Piece]:
    """Strip ANSI codes, drop empty progress, keep only the last of adjacent progress pieces."""
    out: list[Piece] = []
    for kind, raw in pieces:
        text = _clean(raw)
        if kind == "progress":
            if not text:
                continue
            if out and out[-1][0] == "progress":
                out[-1] = (kind, text)
                continue
        elif out and out[-1][0] == "progress" and not text:
            continue  # "50%\r\n" style endings: the progress piece already said it
        out.append((kind, text))
    return out
