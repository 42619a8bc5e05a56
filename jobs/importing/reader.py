"""Reading an import file: plain or gzip-compressed, from a path or standard input, streamed.

Bytes are decoded line by line, strictly as UTF-8, so a problem is reported with its line
(a binary file, another encoding, a NUL byte), and every CSV record keeps the line it starts on.
Nothing holds more than one record in memory: a single field may be large (a 5 MB comment is
read and then refused by the validator, by name), but not larger than MAX_LINE_BYTES.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from npscsat.errors import NpscsatError

MAX_LINE_BYTES = 16 * 1024 * 1024  # far above any real row; bounds the memory of one record
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff"

csv.field_size_limit(MAX_LINE_BYTES)


class ImportRefused(NpscsatError):
    """The import file (or a row of it) cannot be loaded; nothing was written."""


@dataclass(frozen=True, slots=True)
class Record:
    line: int  # the file line the record starts on (1-based)
    fields: list[str]


class InputFile:
    """A path or "-" (standard input), transparently gunzipped (by its first bytes, so a
    compressed stream on stdin works too). `position` / `size` (bytes of the file as stored)
    drive the progress line; size is None for standard input."""

    def __init__(self, path: str, stdin: BinaryIO | None = None) -> None:
        self.path = path
        self.name = "standard input" if path == "-" else path
        if path == "-":
            if stdin is None:
                raise ImportRefused("no standard input to read from")
            raw = stdin
            self.size: int | None = None
        else:
            try:
                raw = open(path, "rb")  # noqa: SIM115 - closed by close()
                self.size = os.fstat(raw.fileno()).st_size
            except OSError as exc:
                raise ImportRefused(f"cannot open {path}: {exc.strerror}") from None
        self._raw = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
        self._read = 0
        self.compressed = self._raw.peek(2)[:2] == _GZIP_MAGIC
        self._stream: BinaryIO = (
            gzip.GzipFile(fileobj=self._raw, mode="rb") if self.compressed else self._raw
        )

    @property
    def position(self) -> int:
        """Bytes of the stored file consumed so far (compressed bytes for a .gz)."""
        if self.compressed:
            try:
                return self._raw.tell()
            except OSError:  # a pipe cannot tell
                return 0
        return self._read

    def lines(self) -> Iterator[tuple[int, str]]:
        """(line number, text) of every line, newline kept, decoded as UTF-8."""
        number = 0
        while True:
            try:
                chunk = self._stream.readline(MAX_LINE_BYTES + 1)
            except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
                raise ImportRefused(
                    f"{self.name} is not a readable gzip file ({exc or type(exc).__name__}) "
                    f"after line {number}"
                ) from None
            if not chunk:
                return
            number += 1
            self._read += len(chunk)
            if len(chunk) > MAX_LINE_BYTES:
                raise ImportRefused(
                    f"line {number} is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB: this "
                    "is not a CSV file of survey responses"
                )
            yield number, _decode(chunk, number)

    def close(self) -> None:
        if self.path != "-":
            self._raw.close()


def _decode(chunk: bytes, number: int) -> str:
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        hint = " (it looks like a binary file)" if b"\x00" in chunk else ""
        raise ImportRefused(
            f"line {number} is not UTF-8 text{hint}: byte 0x{chunk[exc.start]:02x} at "
            f"position {exc.start + 1}; save the file as CSV UTF-8"
        ) from None
    if "\x00" in text:
        raise ImportRefused(f"line {number} holds a NUL byte: this is a binary file, not CSV text")
    if number == 1:
        text = text.removeprefix(_BOM)  # spreadsheet exports often start with one
    return text


def records(source: InputFile) -> Iterator[Record]:
    """The CSV records of the file with the line each starts on; blank lines are skipped."""
    numbered = source.lines()
    current = 0

    def texts() -> Iterator[str]:
        nonlocal current
        for number, text in numbered:
            current = number
            yield text

    # strict: a stray quote is an error, not a field that swallows the rest of the file
    reader = csv.reader(texts(), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            detail = (
                "a quoted field that starts here is never closed"
                if "unexpected end of data" in str(exc)
                else str(exc)
            )
            raise ImportRefused(f"line {start}: not valid CSV: {detail}") from None
        if fields:
            yield Record(start, fields)
        start = current + 1
