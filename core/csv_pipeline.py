"""The one CSV pipeline every staff CSV file goes through (ARCHITECTURE.md § CSV). An app declares a
`CsvFormat` (its columns, a django-import-export resource for them, how to look rows up and how to write
a batch); the pipeline does the rest:

    export_csv(fmt, progress=None) -> ExportResult
    stream_csv(fmt, objects) -> Iterator[bytes]       (a download streamed as it is written)
    import_csv(fmt, data, dry_run=…, progress=None) -> ImportResult
    export_outcome(fmt, result) / import_outcome(fmt, result) -> JobOutcome   (core.jobs)

What django-import-export does here, through its public API: the columns are its `Field`s with their
`Widget`s, which turn a value into its cell (`Resource.export_resource`) and a cell back into a value
(`Resource.import_instance`, which collects every column's error of a row at once). What the pipeline
adds, because import-export leaves it to each project or does it in a way a shop cannot use:

- reading: cp932 or UTF-8 with or without BOM, CRLF / LF / CR (core.csvio), the header checked against
  the format's (a corrected error file, with its reason column, is accepted as it is), short or long rows
  refused by line;
- rows read and written in chunks of BATCH_ROWS, each chunk's lookups loaded in bulk (`prefetch`) and
  its rows written by the app's batch service in a transaction per chunk, so memory stays flat and one
  bad row never undoes the others (import-export holds the whole file in one transaction, and its dry run
  writes every row and rolls back);
- a dry run that runs every check and writes nothing;
- the comparison that tells a create, an update (column by column, for the preview) and an unchanged row
  apart, and leaves an unchanged row alone;
- in a Shift_JIS file, a cell that still holds what the export had to write for a stored value (〜 as ～,
  🍣 as ?) is read as the stored value, so export → import never changes anything behind anyone's back;
- the result file (one line per row: what happened), the error file (each refused row exactly as it was,
  plus the reason in エラー内容, importable again once corrected), both cp932 with CRLF;
- on export, the cp932 report: a character written as its standard Shift_JIS counterpart is a notice, a
  character lost as ? makes the export partial; and formula neutralisation of text cells (core.csvio);
- progress for the job, and its outcome (counts, messages, files).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from core.csvio import (
    CP932,
    ENCODING_LABELS,
    Cp932CsvWriter,
    CsvFileError,
    CsvRow,
    Unencodable,
    decode_csv,
    read_csv,
    written_form,
)
from core.jobs import JobOutcome, JobProgress
from core.periods import JST

# Rows read, looked up and written together (one transaction per chunk in a real run).
BATCH_ROWS = 1000
# The reason column the error file adds; a corrected error file can be imported as it is.
ERROR_COLUMN = "エラー内容"
# A job's messages list at most this many row errors or characters; the files have them all.
MESSAGES_LISTED = 20
# An import keeps this many row previews for the page that shows them (the counts are complete, and the
# result file has every row).
PREVIEWS_KEPT = 300
# Export rows are read this many at a time (with their prefetches), so memory stays flat.
EXPORT_CHUNK = 2000


class CsvFormat(ABC):
    """One CSV file of an app. A subclass declares:

    - `columns`, in file order; `numeric_columns` (written as numbers, never neutralised);
    - `key_column` (the ID: empty creates, a number updates) and `name_column` (what a row is called in
      the result file and the preview); `compared_columns`, the columns an import can change;
    - `resource_class`, a django-import-export Resource whose fields are the columns;
    - `field_columns`, model field → column, so a row error names the column to fix;
    - `file_stem` for file names, and the messages below;

    and implements `export_queryset`, and for import `prefetch`, `stored`, `render`, `build` and `write`.
    One instance serves one run (it holds the run's lookups).
    """

    columns: tuple[str, ...] = ()
    numeric_columns: tuple[str, ...] = ()
    key_column: str = ""
    name_column: str = ""
    compared_columns: tuple[str, ...] = ()
    field_columns: dict[str, str] = {}
    resource_class: type = None  # type: ignore[assignment]
    file_stem: str = "export"
    upload_help: str = ""  # the upload form's help text

    def __init__(self):
        self.resource = self.resource_class()
        self.export_fields = self.resource.get_export_fields()

    # --- messages (each format words its own, so a translation never assembles sentences) -------------

    @abstractmethod
    def exported_message(self, count: int) -> str: ...

    @classmethod
    @abstractmethod
    def export_question(cls, count: int) -> str:
        """The export page's question: "Export all 12 ticket types as a CSV file?"."""
        ...

    @classmethod
    def export_count(cls) -> int:
        return cls().export_total()

    @abstractmethod
    def not_this_file_message(self, detail: str, encoding: str) -> str:
        """The file's header is not this format's."""
        ...

    @abstractmethod
    def no_rows_message(self) -> str: ...

    @abstractmethod
    def unknown_key_message(self, key: int, values: dict[str, str]) -> str: ...

    def bad_key_message(self, text: str) -> str:
        return gettext("%(value)s is not an ID.") % {"value": f"“{text}”"}

    def duplicate_key_message(self, key: int) -> str:
        return gettext("ID %(id)s is in the file more than once.") % {"id": key}

    # --- export ---------------------------------------------------------------------------------------

    @abstractmethod
    def export_queryset(self) -> QuerySet: ...

    def export_total(self) -> int:
        return self.export_queryset().count()

    def export_objects(self) -> Iterator:
        """What the export writes, a row each (a format whose file holds more than one kind of row chains
        them here)."""
        return self.export_queryset().iterator(chunk_size=EXPORT_CHUNK)

    def export_cells(self, obj) -> list:
        return [self.resource.export_field(column, obj) for column in self.export_fields]

    def describe(self, obj) -> str:
        """What a row is about, for the cp932 report: "チケットID 12"."""
        return f"{self.key_column} {obj.pk}"

    # --- import ---------------------------------------------------------------------------------------

    @abstractmethod
    def prefetch(self, rows: list[dict[str, str]]) -> None:
        """Loads in bulk whatever the chunk's rows name (the objects to update, related objects)."""

    def key_namespace(self, values: dict[str, str]) -> str:
        """Which kind of row this is, for a file holding more than one (their IDs are counted apart)."""
        return ""

    @abstractmethod
    def stored(self, key: int, values: dict[str, str]) -> Any:
        """The object with ID `key` that the row `values` updates (loaded by `prefetch`), or None."""
        ...

    @abstractmethod
    def render(self, obj) -> dict[str, str]:
        """The columns an import compares (`compared_columns`, for most formats) of a stored object, as the
        export writes them. The comparison is over this dict's columns, in its order."""
        ...

    @abstractmethod
    def build(
        self, stored, values: dict[str, str], before: dict[str, str] | None
    ) -> tuple[Any, dict[str, str]]:
        """What to write for a row (`stored` is the object it updates, None for a new one; `before` its
        `render`) and its `compared_columns` as they will be. Raises ValidationError (by model field) when
        the row is refused."""
        ...

    @abstractmethod
    def write(self, changes: list[RowChange], *, dry_run: bool) -> None:
        """Checks (and unless `dry_run` writes) a chunk's changes in one go; sets each refused change's
        `error` (a ValidationError) and each written change's `key`."""
        ...

    def error_message(self, error: ValidationError) -> str:
        """One line, each part naming the CSV column: "表示順: The display order must be 1 or more."."""
        if not hasattr(error, "error_dict"):
            return " ".join(error.messages)
        parts = []
        for name, errors in error.error_dict.items():
            text = " ".join(message for each in errors for message in each.messages)
            column = self.field_columns.get(name)
            parts.append(f"{column}: {text}" if column else text)
        return " / ".join(parts)


def _file_stamp() -> str:
    return timezone.localtime(timezone.now(), JST).strftime("%Y%m%d_%H%M%S")


def _listed(messages: list[str], *, more_text) -> list[str]:
    if len(messages) <= MESSAGES_LISTED:
        return messages
    rest = len(messages) - MESSAGES_LISTED
    return [*messages[:MESSAGES_LISTED], more_text(rest)]


# --- export --------------------------------------------------------------------------------------------

# Job counts of an export's characters (their labels are registered in core.jobs).
SUBSTITUTED_COUNT = "substituted_characters"
REPLACED_COUNT = "replaced_characters"


@dataclass(frozen=True)
class ExportResult:
    data: bytes  # cp932, CRLF
    rows: int
    problems: list[Unencodable]  # each character cp932 could not hold, as it was written instead

    @property
    def losses(self) -> list[Unencodable]:
        """Characters written as ?: the export is partial."""
        return [problem for problem in self.problems if problem.is_loss]

    @property
    def notices(self) -> list[Unencodable]:
        """Characters written as their standard Shift_JIS counterpart (〜 as ～)."""
        return [problem for problem in self.problems if not problem.is_loss]

    @property
    def messages(self) -> list[str]:
        return [problem.message for problem in self.problems]


def export_csv(fmt: CsvFormat, progress: JobProgress | None = None) -> ExportResult:
    """Every row of `fmt.export_objects()`, cp932 with CRLF. Queries: a count, then per EXPORT_CHUNK rows
    the queryset's own (Django's iterator prefetches per chunk)."""
    if progress is not None:
        progress.total(fmt.export_total())
    writer = Cp932CsvWriter(fmt.columns, numeric=fmt.numeric_columns)
    rows = 0
    for obj in fmt.export_objects():
        writer.writerow(fmt.export_cells(obj), where=fmt.describe(obj))
        rows += 1
        if progress is not None:
            progress.advance()
    if progress is not None:
        progress.flush()
    return ExportResult(writer.getvalue(), rows, writer.problems)


# A streamed file is handed out in pieces of about this many bytes.
STREAM_CHUNK_BYTES = 64 * 1024


class CsvExportColumns(Protocol):
    """What `stream_csv` needs of a format: a `CsvFormat`, or an export-only format declaring the same."""

    columns: tuple[str, ...]
    numeric_columns: tuple[str, ...]

    def export_cells(self, obj) -> list: ...

    def describe(self, obj) -> str: ...


def stream_csv(
    fmt: CsvExportColumns,
    objects: Iterable,
    *,
    chunk_bytes: int = STREAM_CHUNK_BYTES,
    on_problem: Callable[[Unencodable], None] | None = None,
) -> Iterator[bytes]:
    """The CSV of `objects` (the header first) as cp932 pieces of about `chunk_bytes`, for a
    StreamingHttpResponse: the same cells, cp932 rules and formula neutralisation as `export_csv`, but
    nothing is held beyond one piece, so memory stays flat whatever the number of rows. Pass a queryset's
    `.iterator(chunk_size=…)` as `objects`.

    A streamed file cannot end with a report (its headers are already sent): each character cp932 cannot
    hold exactly is written as `export_csv` writes it and handed to `on_problem` (to count or log), then
    forgotten."""
    writer = Cp932CsvWriter(fmt.columns, numeric=fmt.numeric_columns)
    for obj in objects:
        writer.writerow(fmt.export_cells(obj), where=fmt.describe(obj))
        if writer.problems:
            if on_problem is not None:
                for problem in writer.problems:
                    on_problem(problem)
            writer.problems.clear()
        if writer.pending() >= chunk_bytes:
            yield writer.take()
    last = writer.take()
    if last:
        yield last


def problems_file(problems: list[Unencodable]) -> bytes:
    """The characters an export could not write exactly, one a row, for the job's error file."""
    writer = Cp932CsvWriter(
        [
            gettext("Line"),
            gettext("Row"),
            gettext("Column"),
            gettext("Character"),
            gettext("Code point"),
            gettext("Written as"),
        ]
    )
    for problem in problems:
        # The character itself cannot be written either: its cell says what it was written as, by design.
        writer.writerow(
            [problem.line, problem.where, problem.column, problem.char, problem.codepoint, problem.written_as]
        )
    return writer.getvalue()


def export_outcome(fmt: CsvFormat, result: ExportResult) -> JobOutcome:
    """The job record of an export. A character written as its Shift_JIS counterpart is listed as a
    notice; a character lost as ? makes the job partial, with every character in the error file."""
    stamp = _file_stamp()
    counts = {"exported": result.rows}
    messages = [fmt.exported_message(result.rows)]
    losses, notices = result.losses, result.notices
    if notices:
        counts[SUBSTITUTED_COUNT] = len(notices)
    if losses:
        counts[REPLACED_COUNT] = len(losses)
    # Losses first: they are what needs attention.
    messages += _listed(
        [problem.message for problem in [*losses, *notices]],
        more_text=lambda rest: (
            (
                ngettext(
                    "…and %(count)s more character; the error file lists them all.",
                    "…and %(count)s more characters; the error file lists them all.",
                    rest,
                )
                if losses
                else ngettext(
                    "…and %(count)s more character written as its Shift_JIS counterpart.",
                    "…and %(count)s more characters written as their Shift_JIS counterparts.",
                    rest,
                )
            )
            % {"count": rest}
        ),
    )
    errors = (
        (f"{fmt.file_stem}_export_{stamp}_characters.csv", problems_file(result.problems)) if losses else None
    )
    return JobOutcome(
        counts=counts,
        messages=messages,
        result=(f"{fmt.file_stem}_{stamp}.csv", result.data),
        errors=errors,
        partial=bool(losses),
    )


# --- import --------------------------------------------------------------------------------------------


@dataclass
class RowChange:
    """A row that creates or updates something: `target` is what the format writes; the format sets
    `error` when its batch refuses the row, and `key` (the ID) once written."""

    line: int
    cells: list[str]
    is_create: bool
    name: str
    changes: list[tuple[str, str, str]]  # (column, old, new)
    target: Any
    key: int | None = None
    error: ValidationError | None = None


@dataclass(frozen=True)
class RowPreview:
    """What a row does (or would do, in a dry run): create or update, column by column."""

    line: int
    action: str  # "create" or "update"
    key: int | None
    name: str
    changes: list[tuple[str, str, str]]  # (column, old, new)

    @property
    def is_create(self) -> bool:
        return self.action == "create"


@dataclass(frozen=True)
class RowError:
    line: int
    cells: list[str]  # the row as it was in the file
    message: str
    text: str  # "Line 3: message", worded when the row was checked (in the job's language)

    @classmethod
    def of(cls, line: int, cells: list[str], message: str) -> RowError:
        return cls(
            line, cells, message, gettext("Line %(line)s: %(message)s") % {"line": line, "message": message}
        )


@dataclass
class ImportResult:
    encoding: str
    dry_run: bool
    header: list[str]
    numeric_columns: tuple[str, ...] = ()
    key_column: str = ""
    name_column: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    previews: list[RowPreview] = field(default_factory=list)  # the first PREVIEWS_KEPT
    errors: list[RowError] = field(default_factory=list)
    _results: Cp932CsvWriter | None = None

    def __post_init__(self):
        self._results = Cp932CsvWriter(
            [gettext("Line"), self.key_column, self.name_column, gettext("Result"), gettext("Details")],
            numeric=[self.key_column],
        )

    @property
    def failed(self) -> int:
        return len(self.errors)

    @property
    def encoding_label(self) -> str:
        return ENCODING_LABELS[self.encoding]

    @property
    def previews_hidden(self) -> int:
        return self.created + self.updated - len(self.previews)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": self.failed,
        }

    def error_file(self) -> tuple[bytes, list[Unencodable]]:
        """The header and each failed row as they were, plus the reason (cp932, CRLF). A UTF-8 file's
        character that cp932 cannot hold is reported like an export's."""
        writer = Cp932CsvWriter([*self.header, ERROR_COLUMN], numeric=self.numeric_columns)
        for error in self.errors:
            writer.writerow([*error.cells, error.text])
        return writer.getvalue(), writer.problems

    def result_file(self) -> bytes:
        """One row per line of the file: what happened to it."""
        return self._results.getvalue()

    def _record(self, outcomes: list[RowChange | RowError]) -> None:
        """A chunk's outcomes, in line order: counted, kept for the preview and written to the result
        file."""
        index = self.header.index
        key_at, name_at = index(self.key_column), index(self.name_column)
        for outcome in sorted(outcomes, key=lambda each: each.line):
            if isinstance(outcome, RowError):
                self.errors.append(outcome)
                cells = outcome.cells
                self._results.writerow(
                    [
                        outcome.line,
                        cells[key_at] if key_at < len(cells) else "",
                        cells[name_at] if name_at < len(cells) else "",
                        gettext("error"),
                        outcome.message,
                    ]
                )
                continue
            if outcome.is_create:
                self.created += 1
            else:
                self.updated += 1
            if len(self.previews) < PREVIEWS_KEPT:
                self.previews.append(
                    RowPreview(
                        line=outcome.line,
                        action="create" if outcome.is_create else "update",
                        key=outcome.key,
                        name=outcome.name,
                        changes=outcome.changes,
                    )
                )
            details = " / ".join(
                f"{column}: {new}" if outcome.is_create else f"{column}: {old} → {new}"
                for column, old, new in outcome.changes
            )
            result = gettext("created") if outcome.is_create else gettext("updated")
            self._results.writerow([outcome.line, outcome.key or "", outcome.name, result, details])


def check_header(fmt: CsvFormat, header: list[str], encoding: str) -> bool:
    """Raises CsvFileError unless the header is the format's (optionally followed by the error file's
    reason column). Returns whether the reason column is there."""
    cells = [cell.strip() for cell in header]
    columns = list(fmt.columns)
    if cells == columns:
        return False
    if cells == [*columns, ERROR_COLUMN]:
        return True
    for index, expected in enumerate(columns):
        found = cells[index] if index < len(cells) else None
        if found != expected:
            if found is None:
                detail = gettext("column %(number)s, %(expected)s, is missing") % {
                    "number": index + 1,
                    "expected": f"“{expected}”",
                }
            else:
                detail = gettext("column %(number)s is %(found)s where %(expected)s was expected") % {
                    "number": index + 1,
                    "found": f"“{found}”",
                    "expected": f"“{expected}”",
                }
            break
    else:
        detail = gettext("there are more columns than the %(count)s expected") % {"count": len(columns)}
    raise CsvFileError(fmt.not_this_file_message(detail, encoding))


def count_rows(fmt: CsvFormat, data: bytes) -> int:
    """How many rows (blank lines aside) a file has, to choose where to check it. Raises CsvFileError
    when the file as a whole is not the format's, with the message import_csv would give."""
    decoded = decode_csv(data)
    header, rows = read_csv(decoded.text)
    check_header(fmt, header, decoded.encoding_label)
    count = sum(1 for row in rows if not row.is_blank)
    if not count:
        raise CsvFileError(fmt.no_rows_message())
    return count


def _chunks(rows: Iterable[CsvRow], size: int) -> Iterator[list[CsvRow]]:
    rows = iter(rows)
    while chunk := list(islice(rows, size)):
        yield chunk


def import_csv(
    fmt: CsvFormat, data: bytes, *, dry_run: bool, progress: JobProgress | None = None
) -> ImportResult:
    """Creates (empty key column) or updates rows from a file of `fmt`. Raises CsvFileError when the file
    as a whole is not one (nothing is written then). Otherwise every good row is applied (unless
    `dry_run`) and every bad row is reported; see the module's docstring for the steps."""
    decoded = decode_csv(data)
    header, rows = read_csv(decoded.text)
    has_error_column = check_header(fmt, header, decoded.encoding_label)
    if progress is not None:
        # A first pass for the job's progress bar (a command or a benchmark counts as it goes).
        total = sum(1 for row in read_csv(decoded.text)[1] if not row.is_blank)
        if not total:
            raise CsvFileError(fmt.no_rows_message())
        progress.total(total)
    result = ImportResult(
        encoding=decoded.encoding,
        dry_run=dry_run,
        header=list(fmt.columns),
        numeric_columns=fmt.numeric_columns,
        key_column=fmt.key_column,
        name_column=fmt.name_column,
    )
    run = _ImportRun(fmt, result, has_error_column=has_error_column, keep_stored=decoded.encoding == CP932)
    for chunk in _chunks(rows, BATCH_ROWS):
        done = run.chunk([row for row in chunk if not row.is_blank])
        result.rows += done
        if progress is not None:
            progress.advance(done)
    if not result.rows:  # (only blank lines: nothing was read, so nothing was written)
        raise CsvFileError(fmt.no_rows_message())
    if progress is not None:
        progress.flush()
    return result


class _ImportRun:
    def __init__(self, fmt: CsvFormat, result: ImportResult, *, has_error_column: bool, keep_stored: bool):
        self.fmt, self.result = fmt, result
        self.has_error_column, self.keep_stored = has_error_column, keep_stored
        self.width = len(fmt.columns)
        self.seen: set[tuple[str, int]] = set()

    def chunk(self, rows: list[CsvRow]) -> int:
        fmt, width = self.fmt, self.width
        outcomes: list[RowChange | RowError] = []
        read: list[tuple[int, list[str], dict[str, str]]] = []
        for row in rows:
            cells = row.cells
            if self.has_error_column and len(cells) > width:
                cells = cells[:width] + cells[width + 1 :]  # the reason a previous run wrote
            if len(cells) < width or any(cell.strip() for cell in cells[width:]):
                outcomes.append(
                    RowError.of(
                        row.line,
                        cells,
                        gettext("This row has %(found)s columns; the header has %(expected)s.")
                        % {"found": len(cells), "expected": width},
                    )
                )
                continue
            read.append((row.line, cells, dict(zip(fmt.columns, cells, strict=False))))
        fmt.prefetch([values for _line, _cells, values in read])
        pending: list[RowChange] = []
        for line, cells, values in read:
            outcome = self._row(line, cells, values)
            if isinstance(outcome, RowChange):
                pending.append(outcome)
            elif outcome is not None:
                outcomes.append(outcome)
        if pending:
            fmt.write(pending, dry_run=self.result.dry_run)
        for change in pending:
            if change.error is not None:
                outcomes.append(RowError.of(change.line, change.cells, fmt.error_message(change.error)))
            else:
                outcomes.append(change)
        self.result._record(outcomes)
        return len(rows)

    def _row(self, line: int, cells: list[str], values: dict[str, str]) -> RowChange | RowError | None:
        """A row's change, its error, or None when it changes nothing (counted as unchanged)."""
        fmt = self.fmt
        stored, before = None, None
        key_text = values[fmt.key_column].strip()
        if key_text:
            key = _whole_number(key_text)
            if key is None:
                return RowError.of(line, cells, f"{fmt.key_column}: {fmt.bad_key_message(key_text)}")
            seen = (fmt.key_namespace(values), key)
            if seen in self.seen:
                return RowError.of(line, cells, f"{fmt.key_column}: {fmt.duplicate_key_message(key)}")
            self.seen.add(seen)
            stored = fmt.stored(key, values)
            if stored is None:
                return RowError.of(line, cells, f"{fmt.key_column}: {fmt.unknown_key_message(key, values)}")
            before = fmt.render(stored)
            if self.keep_stored:
                for column, kept in before.items():
                    cell = values[column]
                    if cell != kept and written_form(kept) == cell:
                        values[column] = kept  # the cell holds what the export wrote for it: not an edit
        try:
            target, after = fmt.build(stored, values, before)
        except ValidationError as error:
            return RowError.of(line, cells, fmt.error_message(error))
        if before is None:
            changes = [(column, "", value) for column, value in after.items()]
        else:
            changes = [(c, old, after[c]) for c, old in before.items() if old != after[c]]
            if not changes:
                self.result.unchanged += 1
                return None
        return RowChange(
            line=line,
            cells=cells,
            is_create=stored is None,
            name=values[fmt.name_column],
            changes=changes,
            target=target,
            key=getattr(stored, "pk", None),
        )


_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def _whole_number(text: str) -> int | None:
    """`text` as a whole number (full-width digits typed with an IME are fine), or None."""
    text = text.translate(_DIGITS)
    return int(text) if text.isascii() and text.isdigit() else None


def import_summary(result: ImportResult) -> str:
    params = {
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "failed": result.failed,
    }
    if result.dry_run:
        return (
            gettext(
                "Dry run, nothing was saved: %(created)s would be created, %(updated)s updated, "
                "%(unchanged)s unchanged, %(failed)s with errors."
            )
            % params
        )
    return (
        gettext("%(created)s created, %(updated)s updated, %(unchanged)s unchanged, %(failed)s with errors.")
        % params
    )


def import_outcome(fmt: CsvFormat, result: ImportResult) -> JobOutcome:
    """The job record of an import: partial when any row failed, with the error file to correct."""
    stamp = _file_stamp()
    messages = [import_summary(result)]
    errors = None
    if result.errors:
        messages += _listed(
            [error.text for error in result.errors],
            more_text=lambda rest: (
                ngettext(
                    "…and %(count)s more row with errors; the error file lists them all.",
                    "…and %(count)s more rows with errors; the error file lists them all.",
                    rest,
                )
                % {"count": rest}
            ),
        )
        error_bytes, problems = result.error_file()
        messages += [problem.message for problem in problems[:MESSAGES_LISTED]]
        errors = (f"{fmt.file_stem}_import_{stamp}_errors.csv", error_bytes)
    return JobOutcome(
        counts=result.counts,
        messages=messages,
        result=(f"{fmt.file_stem}_import_{stamp}_result.csv", result.result_file()),
        errors=errors,
        partial=bool(result.errors),
    )
