"""Reading an import file: plain or gzip-compressed, from a path or standard input, streamed.

Text is decoded as UTF-8 by io.TextIOWrapper (in C) with surrogateescape, and each line is then
checked for the escapes that stand for bytes that are not UTF-8, so a problem is reported with
its line (a binary file, another encoding, a NUL byte); every CSV record keeps the line it
starts on. Nothing holds more than one record in memory: a single field may be large (a 5 MB
comment is read and then refused by the validator, by name), but not larger than MAX_LINE_CHARS.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import zlib
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from npscsat.errors import NpscsatError

MAX_LINE_CHARS = 16 * 1024 * 1024  # far above any real row; bounds the memory of one record
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff"
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # surrogateescape's stand-ins for undecodable bytes

csv.field_size_limit(MAX_LINE_CHARS)


class ImportRefused(NpscsatError):
    """The import file (or a row of it) cannot be loaded; nothing was written."""


class Record(NamedTuple):  # a NamedTuple: made a million times, a dataclass costs 3x more
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
        self.compressed = self._raw.peek(2)[:2] == _GZIP_MAGIC
        stream = gzip.GzipFile(fileobj=self._raw, mode="rb") if self.compressed else self._raw
        # newline="": the csv module sees line ends as they are (quoted newlines stay whole).
        self._text = io.TextIOWrapper(
            stream, encoding="utf-8", errors="surrogateescape", newline=""
        )

    @property
    def position(self) -> int:
        """Bytes of the stored file consumed so far (compressed bytes for a .gz)."""
        try:
            return self._raw.tell()
        except OSError:  # a pipe cannot tell
            return 0

    def lines(self) -> Iterator[str]:
        """Every line of the file, its line end kept, checked to be UTF-8 text."""
        readline = self._text.readline
        number = 0
        while True:
            try:
                text = readline(MAX_LINE_CHARS + 1)
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise ImportRefused(
                    f"{self.name} is not a readable gzip file ({exc or type(exc).__name__}) "
                    f"after line {number}"
                ) from None
            if not text:
                return
            number += 1
            if len(text) > MAX_LINE_CHARS:
                raise ImportRefused(
                    f"line {number} is longer than {MAX_LINE_CHARS // (1024 * 1024)} million "
                    "characters: this is not a CSV file of survey responses"
                )
            if not text.isascii():
                if number == 1:
                    text = text.removeprefix(_BOM)  # spreadsheet exports often start with one
                _check_utf8(text, number)
            if "\x00" in text:
                raise ImportRefused(
                    f"line {number} holds a NUL byte: this is a binary file, not CSV text"
                )
            yield text

    def close(self) -> None:
        if self.path != "-":
            self._raw.close()


def _check_utf8(text: str, number: int) -> None:
    found = _NOT_UTF8.search(text)
    if found is None:
        return
    byte = ord(found.group()) - 0xDC00
    hint = " (it looks like a binary file)" if "\x00" in text else ""
    raise ImportRefused(
        f"line {number} is not UTF-8 text{hint}: byte 0x{byte:02x} at position "
        f"{found.start() + 1}; save the file as CSV UTF-8"
    )


def records(source: InputFile) -> Iterator[Record]:
    """The CSV records of the file with the line each starts on; blank lines are skipped."""
    # strict: a stray quote is an error, not a field that swallows the rest of the file
    reader = csv.reader(source.lines(), strict=True)
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
        start = reader.line_num + 1  # line_num: the lines read so far
