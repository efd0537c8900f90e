"""CSV files for Japanese shops: written in Shift_JIS (cp932) with CRLF line ends, read in cp932 or UTF-8.

Writing. cp932 cannot hold every character a name may contain, and nothing is ever dropped or replaced
silently. Each cell is checked; a character cp932 cannot hold *exactly* (so that reading the file back
gives the same character) is reported as an `Unencodable` — line, column, the character and its code point
— and written as:

- the character Windows writes for it when cp932 has a near twin: 〜 WAVE DASH (U+301C) as ～ FULLWIDTH
  TILDE (U+FF5E, byte 0x8160), − MINUS SIGN (U+2212) as －, ‖ as ∥, ¢ £ ¬ as ￠ ￡ ￢. Python's cp932 codec
  maps these one way only (0x8160 reads back as ～), so without the check 〜 would turn into ～ unseen;
- `?` otherwise (🍣, — EM DASH U+2014, most characters outside JIS).

The first kind is a *notice*: the file holds the character Shift_JIS has for it, as every Windows program
writes it, and nothing a reader would miss is lost. The second is a *loss* (`Unencodable.is_loss`): the
caller reports it as an error (an export job ends partial, a command exits 1). `written_form(text)` gives
the text as the file holds it, so an importer can tell "the cell still holds what the export had to
write" from a real edit.

Formulas. A text cell that a spreadsheet would run as a formula (starting with = + - @ tab or CR, OWASP's
list: `=HYPERLINK(...)`, `-2+3`) is written with a leading `'`, which Excel shows as text. A value that
already starts with `'`s before such a character gets one more, so the reader can take exactly one off
(`restore_formula`) and every value comes back as it was: `'=x` is written `''=x` and read `'=x`. Numbers
stay numbers: a cell given as an int, a float or a Decimal, and a number-shaped cell (`-300`) of a column
the caller declares `numeric`, are written as they are (any other text in a numeric column is neutralised).

Reading. `decode_csv` takes UTF-8 with a BOM, else strict UTF-8, else strict cp932; a file that is none of
them, a binary file (an .xlsx, anything with NUL bytes) or an empty one is a `CsvFileError` with a message
for the user. Line ends may be CRLF, LF or CR; quoted cells may hold line breaks.

Reading also takes the formula prefix off again (`restore_formula`), so an export imported back
changes nothing.

Nothing here knows what a row means: column names and values come from the caller.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError

CP932 = "cp932"
UTF8_BOM = b"\xef\xbb\xbf"
CRLF = "\r\n"
# What a character with no cp932 twin is written as.
REPLACEMENT = "?"
# The writer encodes its text to cp932 every this many characters.
_FLUSH_CHARS = 64 * 1024


class CsvFileError(DomainError):
    """The file as a whole cannot be read as CSV (empty, binary, unknown encoding, wrong header)."""

    default_message = _("The file cannot be read as CSV.")


# --- formulas ------------------------------------------------------------------------------------------

FORMULA_PREFIX = "'"
# The first characters a spreadsheet runs as a formula (OWASP), and the prefix itself (a value already
# starting with it must get one more).
_FORMULA_FIRST = frozenset("=+-@\t\r'")
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_NEUTRALISED = re.compile(r"'+[=+\-@\t\r]")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def neutralise_formula(text: str) -> str:
    """`text` with one more leading `'` when a spreadsheet would run it as a formula (it starts with
    = + - @ tab or CR, possibly after `'`s); otherwise `text` itself."""
    if text[:1] in _FORMULA_FIRST and _FORMULA.match(text):
        return FORMULA_PREFIX + text
    return text


def restore_formula(text: str) -> str:
    """The value `neutralise_formula` was given: one leading `'` taken off a cell that starts with `'`s
    before = + - @ tab or CR; any other cell as it is."""
    if text[:1] == FORMULA_PREFIX and _NEUTRALISED.match(text):
        return text[1:]
    return text


# --- writing -------------------------------------------------------------------------------------------


def _cp932_form(char: str) -> str:
    """The character the cp932 file holds for `char` (itself when cp932 holds it exactly)."""
    try:
        return char.encode(CP932).decode(CP932)
    except UnicodeEncodeError:
        return REPLACEMENT


def fits_cp932(text: str) -> bool:
    """True when cp932 holds every character of `text` exactly (it reads back the same)."""
    try:
        return text.encode(CP932).decode(CP932) == text
    except UnicodeEncodeError:
        return False


def written_form(text: str) -> str:
    """`text` as a cp932 file holds it: each character cp932 cannot hold exactly replaced as described in
    the module's docstring."""
    if fits_cp932(text):
        return text
    return "".join(_cp932_form(char) for char in text)


@dataclass(frozen=True)
class Unencodable:
    """A character cp932 cannot hold, found in `column` of the file's line `line` (the header is line 1).
    `where` adds what the row is about (e.g. "チケットID 12") for the message."""

    line: int
    column: str
    char: str
    written_as: str
    where: str = ""

    @property
    def codepoint(self) -> str:
        return f"U+{ord(self.char):04X}"

    @property
    def is_loss(self) -> bool:
        """True when the character was written as `?` (it is lost); False when it was written as its
        standard Shift_JIS counterpart (〜 as ～), which is a notice rather than an error."""
        return self.written_as == REPLACEMENT

    @property
    def message(self) -> str:
        params = {
            "line": self.line,
            "where": f" ({self.where})" if self.where else "",
            "column": self.column,
            "char": self.char,
            "codepoint": self.codepoint,
            "written_as": self.written_as,
        }
        if self.written_as == REPLACEMENT:
            return (
                gettext(
                    "Line %(line)s%(where)s, %(column)s: “%(char)s” (%(codepoint)s) cannot be written in "
                    "Shift_JIS; it was written as “?”."
                )
                % params
            )
        return gettext(
            "Line %(line)s%(where)s, %(column)s: “%(char)s” (%(codepoint)s) was written as its Shift_JIS "
            "counterpart “%(written_as)s” (%(written_codepoint)s), as Windows writes it."
        ) % {**params, "written_codepoint": f"U+{ord(self.written_as):04X}"}


class Cp932CsvWriter:
    """Builds a cp932 CSV with CRLF line ends, one row at a time, collecting every `Unencodable`.

        writer = Cp932CsvWriter(["ID", "名前"])
        writer.writerow([1, "〜の回数券"], where="ID 1")
        data = writer.getvalue()       # bytes
        writer.problems                # [Unencodable(line=2, column="名前", char="〜", written_as="～")]

    Cells are str (None is written as an empty cell; anything else through str()). A text cell a
    spreadsheet would run as a formula gets a leading `'` (see the module's docstring); an int, float or
    Decimal, or a number-shaped cell of a column named in `numeric`, is written as it is.
    """

    def __init__(self, header: Sequence[str], *, numeric: Iterable[str] = ()):
        self.header = [str(name) for name in header]
        numeric = set(numeric)
        self._numeric = {index for index, name in enumerate(self.header) if name in numeric}
        self.problems: list[Unencodable] = []
        self._buffer = io.StringIO(newline="")
        self._bytes = io.BytesIO()
        self._csv = csv.writer(self._buffer, lineterminator=CRLF)
        self.line = 0
        self._write([neutralise_formula(name) for name in self.header], where="")

    def writerow(self, cells: Iterable, *, where: str = "") -> list[Unencodable]:
        """Writes one row; returns the problems found in it (also added to `problems`)."""
        cells = list(cells)
        texts = ["" if cell is None else str(cell) for cell in cells]
        for index, text in enumerate(texts):
            if text[:1] in _FORMULA_FIRST and not self._is_number(index, cells[index], text):
                texts[index] = neutralise_formula(text)
        return self._write(texts, where=where)

    def _is_number(self, index: int, cell, text: str) -> bool:
        return isinstance(cell, int | float | Decimal) or (
            index in self._numeric and bool(_NUMBER.fullmatch(text))
        )

    def _write(self, cells: list[str], *, where: str) -> list[Unencodable]:
        self.line += 1
        found: list[Unencodable] = []
        # One encode of the whole row in the common case; cell by cell only when something does not fit.
        if not fits_cp932("".join(cells)):
            for index, cell in enumerate(cells):
                if fits_cp932(cell):
                    continue
                column = self.header[index] if index < len(self.header) else str(index + 1)
                parts = []
                for char in cell:
                    form = _cp932_form(char)
                    if form != char:
                        found.append(Unencodable(self.line, column, char, form, where))
                    parts.append(form)
                cells[index] = "".join(parts)
            self.problems.extend(found)
        self._csv.writerow(cells)
        if self._buffer.tell() >= _FLUSH_CHARS:
            self._flush()
        return found

    def _flush(self) -> None:
        # Every cell was made to fit above, so a strict encode cannot fail here. The text is encoded as it
        # comes, so a long file is held once, as bytes, rather than as text and then bytes.
        self._bytes.write(self._buffer.getvalue().encode(CP932))
        self._buffer.seek(0)
        self._buffer.truncate()

    def getvalue(self) -> bytes:
        self._flush()
        return self._bytes.getvalue()

    def pending(self) -> int:
        """About how much the writer holds that `take` has not handed out yet (bytes plus characters)."""
        return self._bytes.tell() + self._buffer.tell()

    def take(self) -> bytes:
        """What was written since the last `take` (the header first), encoded, and forgotten: a streamed
        file is handed out piece by piece and never held whole."""
        self._flush()
        data = self._bytes.getvalue()
        self._bytes = io.BytesIO()
        return data


def write_cp932_csv(
    header: Sequence[str], rows: Iterable[Iterable], *, numeric: Iterable[str] = ()
) -> tuple[bytes, list[Unencodable]]:
    writer = Cp932CsvWriter(header, numeric=numeric)
    for row in rows:
        writer.writerow(row)
    return writer.getvalue(), writer.problems


# --- reading -------------------------------------------------------------------------------------------


ENCODING_LABELS = {"utf-8-sig": "UTF-8 (BOM)", "utf-8": "UTF-8", CP932: "Shift_JIS (cp932)"}


@dataclass(frozen=True)
class DecodedCsv:
    text: str
    encoding: str  # "utf-8-sig", "utf-8" or "cp932"

    @property
    def encoding_label(self) -> str:
        return ENCODING_LABELS[self.encoding]


def decode_csv(data: bytes) -> DecodedCsv:
    """The text of an uploaded CSV file and the encoding it was read with. Raises CsvFileError."""
    if not data.strip(b" \t\r\n" + UTF8_BOM):
        raise CsvFileError(_("The file is empty."))
    if data.startswith(b"PK\x03\x04"):
        raise CsvFileError(
            _("This is an Excel (.xlsx) or ZIP file, not CSV. Save it as “CSV” and upload that file.")
        )
    if b"\x00" in data:
        raise CsvFileError(_("This is not a CSV file: it contains binary data."))
    if data.startswith(UTF8_BOM):
        try:
            return DecodedCsv(data.decode("utf-8-sig"), "utf-8-sig")
        except UnicodeDecodeError as error:
            raise CsvFileError(
                gettext("The file starts as UTF-8 but byte %(position)s is not UTF-8.")
                % {"position": error.start}
            ) from error
    with contextlib.suppress(UnicodeDecodeError):  # not UTF-8: Shift_JIS is tried next
        return DecodedCsv(data.decode("utf-8"), "utf-8")
    try:
        return DecodedCsv(data.decode(CP932), CP932)
    except UnicodeDecodeError as error:
        raise CsvFileError(
            gettext(
                "The file is neither Shift_JIS (cp932) nor UTF-8: the bytes at position %(position)s "
                "(%(bytes)s) cannot be read. Save it as CSV in Shift_JIS or UTF-8."
            )
            % {"position": error.start, "bytes": data[error.start : error.start + 2].hex(" ").upper()}
        ) from error


@dataclass(frozen=True)
class CsvRow:
    line: int  # the line of the file where the row starts (the header is line 1)
    cells: list[str]

    @property
    def is_blank(self) -> bool:
        return not any(cell.strip() for cell in self.cells)


def read_csv(text: str) -> tuple[list[str], Iterator[CsvRow]]:
    """The header and the rows of a decoded CSV text, each cell with the writer's formula prefix taken
    off (`restore_formula`). Line ends CRLF, LF or CR. Raises CsvFileError when the text is not CSV (an
    unterminated quote, a cell over the csv module's size limit)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise CsvFileError(gettext("Line 1 is not valid CSV: %(error)s") % {"error": error}) from error
    if header is None:
        raise CsvFileError(_("The file is empty."))
    header = [restore_formula(cell) for cell in header]

    def rows() -> Iterator[CsvRow]:
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise CsvFileError(
                    gettext("Line %(line)s is not valid CSV: %(error)s") % {"line": line, "error": error}
                ) from error
            yield CsvRow(line, [restore_formula(cell) for cell in cells])
            line = reader.line_num + 1

    return header, rows()
