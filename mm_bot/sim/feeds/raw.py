"""Raw collector dumps: streaming line blocks out of gzip (or plain) files, with positions.

A dump holds one WS message per line, ``<local receive ns> <json>``. Files are read in
large compressed chunks through one ``zlib.decompressobj`` per gzip member, so memory
stays flat whatever the file size, and lines come out in blocks (a list per chunk) to keep
the per-line overhead of the generator protocol off the hot path. Errors carry the file
and the 1-based line number: a truncated gzip raises only after every complete line
before the cut was handed out.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import orjson

CHUNK_BYTES = 1 << 18  # compressed bytes per read (~2 MiB of text per block)
GZIP_MAGIC = b"\x1f\x8b"


class ReplayError(Exception):
    """A recorded file cannot be read on: truncated gzip, a bad JSON line, unknown format."""


def iter_blocks(path: Path, chunk: int = CHUNK_BYTES) -> Iterator[tuple[int, list[bytes]]]:
    """Yield ``(number of the first line, lines)`` for a gzip or plain text file.

    Lines come without their newline. A gzip that ends before its end-of-stream marker
    raises ReplayError naming the file and the line it ends in, after all complete lines.
    Concatenated gzip members are read as one stream.
    """
    lineno = 1
    tail = b""
    with open(path, "rb") as f:
        gz = f.read(2) == GZIP_MAGIC
        f.seek(0)
        dec = zlib.decompressobj(31) if gz else None
        while True:
            raw = f.read(chunk)
            if not raw:
                break
            if dec is not None:
                try:
                    if dec.eof:  # next gzip member starts at a chunk boundary
                        dec = zlib.decompressobj(31)
                    data = dec.decompress(raw)
                    while dec.eof and dec.unused_data:
                        rest = dec.unused_data
                        dec = zlib.decompressobj(31)
                        data += dec.decompress(rest)
                except zlib.error as exc:
                    raise ReplayError(
                        f"{path}:{lineno}: corrupt gzip data after line {lineno - 1}: {exc}"
                    ) from exc
            else:
                data = raw
            if tail:
                data = tail + data
            lines = data.split(b"\n")
            tail = lines.pop()
            if lines:
                yield lineno, lines
                lineno += len(lines)
        if dec is not None and not dec.eof:
            where = (
                f"inside line {lineno}" if tail else f"after line {lineno - 1}" if lineno > 1 else "at once"
            )
            done = f"lines 1-{lineno - 1} were read" if lineno > 1 else "no complete line"
            raise ReplayError(f"{path}:{lineno}: truncated gzip: the file ends {where} ({done})")
    if tail.strip():
        yield lineno, [tail]


def split_line(line: bytes, path: Path, lineno: int) -> tuple[int, object]:
    """``(receive ns, parsed JSON)`` of one dump line; ReplayError naming file:line if bad."""
    sp = line.find(b" ")
    try:
        if sp < 1:
            raise ValueError("no '<ns> ' prefix")
        return int(line[:sp]), orjson.loads(line[sp + 1 :])
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError, so is a bad int
        raise bad_line(path, lineno, line, exc) from exc


def bad_line(path: Path, lineno: int, line: bytes, exc: Exception) -> ReplayError:
    return ReplayError(f"{path}:{lineno}: bad line (want '<ns> <json>'): {exc}; starts {line[:80]!r}")
