"""Ticket CSV export and import (SPEC §6): the services the admin, the tasks and the commands call.

    export_ticket_types(progress=None) -> ExportResult        the cp932 CRLF file and what it could not hold
    import_ticket_types(data, dry_run=…, progress=None) -> ImportResult

and, over them, the job functions `ticket_export_job` / `ticket_import_job` for core.jobs.job_run, and the
services that start each kind of job (make its row, enqueue its task): `ticket_export_start`,
`ticket_import_start`, `ticket_import_check_start` (a dry run as a job) and `ticket_import_from_check`.
Views and commands call only these.

A run that writes (an import) or hands data out (an export) records ONE audit entry, on its job, with its
counts, naming the staff user who started it (or the command, as a system job); the job's files hold the
row-by-row detail. A dry run changes nothing and records nothing.

An export never loses a character silently: one cp932 cannot hold is written as its Windows twin (〜 as
～) or as ?, and reported with its line, column and code point; the job then ends partial (一部エラーが発生
しています) and its error file lists every such character.

An import validates every row before it writes it and writes the good rows 500 to a transaction
(services.TicketTypeBatch); a bad row is not applied and comes back in the error file exactly as it was,
with the reason in an extra エラー内容 column, so the file can be corrected and imported again as it is.
A dry run writes nothing and says what would change, row by row.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

import tablib
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from import_export.results import RowResult

from core.audit import audit_log
from core.csvio import ENCODING_LABELS, Cp932CsvWriter, CsvFileError, Unencodable, decode_csv, read_csv
from core.exceptions import DomainError
from core.jobs import JobOutcome, JobProgress, job_create
from core.models import Job
from core.periods import JST
from tickets.resources import (
    COLUMNS,
    ERROR_COLUMN,
    NAME,
    NUMBER_COLUMNS,
    TICKET_ID,
    TicketTypeResource,
    row_error_message,
)

EXPORT_KIND = "tickets.export"
IMPORT_KIND = "tickets.import"
EXPORT_LABEL = _("Ticket CSV export")
IMPORT_LABEL = _("Ticket CSV import")
IMPORT_DRY_RUN_LABEL = _("Ticket CSV import (dry run)")
REPLACED_COUNT = "replaced_characters"
REPLACED_LABEL = _("characters not in Shift_JIS")
# A job's messages list at most this many row errors or characters; the files have them all.
MESSAGES_LISTED = 20


def _file_stamp() -> str:
    return timezone.localtime(timezone.now(), JST).strftime("%Y%m%d_%H%M%S")


# --- export --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    data: bytes  # cp932, CRLF
    rows: int
    problems: list[Unencodable]  # each character cp932 could not hold, as it was written instead

    @property
    def messages(self) -> list[str]:
        return [problem.message for problem in self.problems]


def export_ticket_types(progress: JobProgress | None = None) -> ExportResult:
    """Every ticket type in ID order, in the columns of SPEC §6. Queries: a count, then per chunk of 2,000
    rows one for the ticket types with their products and one for their items."""
    resource = TicketTypeResource()
    queryset = resource.export_queryset()
    if progress is not None:
        progress.total(queryset.count())
    writer = Cp932CsvWriter(resource.get_export_headers(), numeric=NUMBER_COLUMNS)
    rows = 0
    for ticket_type in resource.iter_queryset(queryset):
        writer.writerow(resource.export_resource(ticket_type), where=f"{TICKET_ID} {ticket_type.pk}")
        rows += 1
        if progress is not None:
            progress.advance()
    if progress is not None:
        progress.flush()
    return ExportResult(writer.getvalue(), rows, writer.problems)


def problems_file(problems: list[Unencodable]) -> bytes:
    """The characters an export could not write, one a row, for the job's error file."""
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
            [
                problem.line,
                problem.where,
                problem.column,
                problem.char,
                problem.codepoint,
                problem.written_as,
            ]
        )
    return writer.getvalue()


def _listed(messages: list[str], *, more_text) -> list[str]:
    if len(messages) <= MESSAGES_LISTED:
        return messages
    rest = len(messages) - MESSAGES_LISTED
    return [*messages[:MESSAGES_LISTED], more_text(rest)]


def export_outcome(result: ExportResult) -> JobOutcome:
    """The job record of an export: partial, with every replaced character in the error file, when cp932
    could not hold something."""
    stamp = _file_stamp()
    counts = {"exported": result.rows}
    messages = [
        ngettext("%(count)s ticket exported.", "%(count)s tickets exported.", result.rows)
        % {"count": result.rows}
    ]
    errors = None
    if result.problems:
        counts[REPLACED_COUNT] = len(result.problems)
        messages += _listed(
            result.messages,
            more_text=lambda rest: (
                ngettext(
                    "…and %(count)s more character; the error file lists them all.",
                    "…and %(count)s more characters; the error file lists them all.",
                    rest,
                )
                % {"count": rest}
            ),
        )
        errors = (f"tickets_export_{stamp}_characters.csv", problems_file(result.problems))
    return JobOutcome(
        counts=counts,
        messages=messages,
        result=(f"tickets_{stamp}.csv", result.data),
        errors=errors,
        partial=bool(result.problems),
    )


def ticket_export_run(job: Job, progress: JobProgress) -> ExportResult:
    """The export of an export job, recorded in the audit trail with its count."""
    result = export_ticket_types(progress)
    _record_run(job, "ticket_types.exported", {"exported": result.rows, REPLACED_COUNT: len(result.problems)})
    return result


def ticket_export_job(job: Job, progress: JobProgress) -> JobOutcome:
    return export_outcome(ticket_export_run(job, progress))


# --- import --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowPreview:
    """What a row does (or would do, in a dry run): create a ticket or update one, column by column."""

    line: int
    action: str  # "create" or "update"
    ticket_id: int | None
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
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    previews: list[RowPreview] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)

    @property
    def encoding_label(self) -> str:
        return ENCODING_LABELS[self.encoding]

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
        writer = Cp932CsvWriter([*self.header, ERROR_COLUMN], numeric=NUMBER_COLUMNS)
        for error in self.errors:
            writer.writerow([*error.cells, error.text])
        return writer.getvalue(), writer.problems

    def result_file(self) -> bytes:
        """One row per line of the file: what happened to it."""
        writer = Cp932CsvWriter(
            [gettext("Line"), TICKET_ID, NAME, gettext("Result"), gettext("Details")], numeric=[TICKET_ID]
        )
        outcomes = sorted(
            [(preview.line, preview) for preview in self.previews] + [(e.line, e) for e in self.errors],
            key=lambda pair: pair[0],
        )
        for line, outcome in outcomes:
            if isinstance(outcome, RowError):
                cells = dict(zip(self.header, outcome.cells, strict=False))
                writer.writerow(
                    [line, cells.get(TICKET_ID, ""), cells.get(NAME, ""), gettext("error"), outcome.message]
                )
                continue
            details = " / ".join(
                f"{column}: {new}" if outcome.is_create else f"{column}: {old} → {new}"
                for column, old, new in outcome.changes
            )
            result = gettext("created") if outcome.is_create else gettext("updated")
            writer.writerow([line, outcome.ticket_id or "", outcome.name, result, details])
        return writer.getvalue()


def check_header(header: list[str], encoding: str) -> bool:
    """Raises CsvFileError unless the header is the ticket CSV's (optionally followed by the error file's
    reason column). Returns whether the reason column is there."""
    cells = [cell.strip() for cell in header]
    if cells == list(COLUMNS):
        return False
    if cells == [*COLUMNS, ERROR_COLUMN]:
        return True
    for index, expected in enumerate(COLUMNS):
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
        detail = gettext("there are more columns than the %(count)s expected") % {"count": len(COLUMNS)}
    raise CsvFileError(
        gettext(
            "This is not a ticket CSV: %(detail)s. The first line must be the header of an exported ticket "
            "CSV (read as %(encoding)s)."
        )
        % {"detail": detail, "encoding": encoding}
    )


def ticket_csv_rows(data: bytes) -> int:
    """How many rows (blank lines aside) a ticket CSV has, to choose where to check it. Raises CsvFileError
    when the file as a whole is not a ticket CSV, with the message import_ticket_types would give."""
    decoded = decode_csv(data)
    header, rows = read_csv(decoded.text)
    check_header(header, decoded.encoding_label)
    count = sum(1 for row in rows if not row.is_blank)
    if not count:
        raise CsvFileError(_no_rows_message())
    return count


def _no_rows_message() -> str:
    return gettext("The file has a header but no ticket rows.")


def import_ticket_types(data: bytes, *, dry_run: bool, progress: JobProgress | None = None) -> ImportResult:
    """Create (empty チケットID) or update ticket types from a ticket CSV; see tickets.resources for how each
    column reads. Raises CsvFileError when the file as a whole is not a ticket CSV (nothing is written
    then). Otherwise every good row is applied (unless `dry_run`) and every bad row is reported."""
    decoded = decode_csv(data)
    header, rows = read_csv(decoded.text)
    has_error_column = check_header(header, decoded.encoding_label)
    width = len(COLUMNS)
    result = ImportResult(encoding=decoded.encoding, dry_run=dry_run, header=list(COLUMNS))

    dataset = tablib.Dataset(headers=list(COLUMNS))
    lines: dict[int, int] = {}
    originals: dict[int, list[str]] = {}
    for row in rows:
        if row.is_blank:
            continue
        cells = row.cells
        if has_error_column and len(cells) > width:
            cells = cells[:width] + cells[width + 1 :]  # the reason a previous run wrote
        extra = cells[width:]
        if len(cells) < width or any(cell.strip() for cell in extra):
            result.errors.append(
                RowError.of(
                    row.line,
                    cells,
                    gettext("This row has %(found)s columns; the header has %(expected)s.")
                    % {"found": len(cells), "expected": width},
                )
            )
            continue
        dataset.append(cells[:width])
        lines[len(dataset)] = row.line
        originals[len(dataset)] = cells
    if not len(dataset) and not result.errors:
        raise CsvFileError(_no_rows_message())
    result.rows = len(dataset) + len(result.errors)
    if progress is not None:
        progress.total(result.rows)
        progress.advance(len(result.errors))

    resource = TicketTypeResource(encoding=decoded.encoding, dry_run=dry_run)
    resource.row_lines = lines
    resource.progress = progress
    resource.prefetch(dataset)
    # import-export's own dry run saves every row inside one transaction and rolls it back at the end, which
    # would hold the rows' locks (and use up IDs) for the whole file. Ours never writes: the resource's
    # dry_run runs every check of the real run and skips the writes.
    outcome = resource.import_data(dataset, dry_run=False, use_transactions=False, raise_errors=False)
    if outcome.base_errors:
        raise outcome.base_errors[0].error

    for number, row_result in enumerate(outcome.rows, start=1):
        line, cells = lines[number], originals[number]
        kind = row_result.import_type
        saved = resource.saved.get(number)
        if saved is not None and saved.error is not None:
            result.errors.append(RowError.of(line, cells, row_error_message(saved.error)))
        elif kind == RowResult.IMPORT_TYPE_SKIP:
            result.unchanged += 1
        elif kind in (RowResult.IMPORT_TYPE_NEW, RowResult.IMPORT_TYPE_UPDATE):
            is_create = kind == RowResult.IMPORT_TYPE_NEW
            if is_create:
                result.created += 1
            else:
                result.updated += 1
            result.previews.append(
                RowPreview(
                    line=line,
                    action="create" if is_create else "update",
                    ticket_id=saved.ticket_type.pk if saved is not None else row_result.object_id,
                    name=cells[COLUMNS.index(NAME)],
                    changes=resource.changes.get(number, []),
                )
            )
        else:
            result.errors.append(RowError.of(line, cells, _row_result_message(row_result)))
    if progress is not None:
        progress.flush()
    result.errors.sort(key=lambda error: error.line)
    return result


def _row_result_message(row_result: RowResult) -> str:
    if row_result.validation_error is not None:
        return row_error_message(row_result.validation_error)
    error = row_result.errors[0].error if row_result.errors else None
    if isinstance(error, ValidationError):
        return row_error_message(error)
    return gettext("Unexpected error: %(error)s") % {"error": f"{type(error).__name__}: {error}"}


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


def import_outcome(result: ImportResult) -> JobOutcome:
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
        errors = (f"tickets_import_{stamp}_errors.csv", error_bytes)
    return JobOutcome(
        counts=result.counts,
        messages=messages,
        result=(f"tickets_import_{stamp}_result.csv", result.result_file()),
        errors=errors,
        partial=bool(result.errors),
    )


def read_input(job: Job) -> bytes:
    with job.input_file.open("rb") as handle:
        return handle.read()


def ticket_import_run(job: Job, progress: JobProgress) -> ImportResult:
    """The job's input file, imported (validated again now, whatever a preview said before); a real run is
    recorded in the audit trail with its counts."""
    dry_run = bool(job.params.get("dry_run"))
    result = import_ticket_types(read_input(job), dry_run=dry_run, progress=progress)
    if not dry_run:
        _record_run(job, "ticket_types.imported", result.counts)
    return result


def ticket_import_job(job: Job, progress: JobProgress) -> JobOutcome:
    return import_outcome(ticket_import_run(job, progress))


def _record_run(job: Job, action: str, counts: dict) -> None:
    """One audit entry for the run, on its job: the staff user who started it, or the command that did
    (a system job). Its own durable transaction: the run's writes are committed batch by batch."""
    by = job.started_by
    system = "" if by is not None else job.params.get("system") or job.kind
    with transaction.atomic(durable=True):
        audit_log(action=action, obj=job, by=by, system=system, payload={"counts": counts})


# --- starting the jobs ---------------------------------------------------------------------------------


def _enqueue(task_name: str, job: Job) -> None:
    from tickets import tasks  # the tasks module imports this one

    getattr(tasks, task_name).delay_on_commit(job.pk)


def ticket_export_start(*, by, system: str = "", enqueue: bool = True) -> Job:
    """A queued export job started by `by` (None: the command `system`), its task enqueued after commit.
    With `enqueue=False` the caller runs it in its own process (the export command, to write the file)."""
    if by is None and not system:
        raise ValueError("ticket_export_start: name the command that starts the job (system=...)")
    job = job_create(
        kind=EXPORT_KIND, label=EXPORT_LABEL, started_by=by, params={"system": system} if system else None
    )
    if enqueue:
        _enqueue("export_ticket_types", job)
    return job


def ticket_import_start(
    *, by, file_name: str, data: bytes, dry_run: bool = False, system: str = "", enqueue: bool = True
) -> Job:
    """A queued import job of `data` (stored as its input file), its task enqueued after commit. The rows
    are validated again when it runs. With `dry_run` it only checks the file (ticket_import_check_start)."""
    if by is None and not system:
        raise ValueError("ticket_import_start: name the command that starts the job (system=...)")
    params: dict = {"dry_run": True} if dry_run else {}
    if system:
        params["system"] = system
    job = job_create(
        kind=IMPORT_KIND,
        label=IMPORT_DRY_RUN_LABEL if dry_run else IMPORT_LABEL,
        started_by=by,
        params=params,
        input_name=posixpath.basename(file_name.replace("\\", "/")) or "tickets.csv",
        input_bytes=data,
    )
    if enqueue:
        _enqueue("import_ticket_types", job)
    return job


def ticket_import_check_start(
    *, by, file_name: str, data: bytes, system: str = "", enqueue: bool = True
) -> Job:
    """A dry-run import as a job (a file too long to check while the browser waits): nothing is written;
    the finished job offers to import the file (ticket_import_from_check)."""
    return ticket_import_start(
        by=by, file_name=file_name, data=data, dry_run=True, system=system, enqueue=enqueue
    )


# --- importing a file a dry-run job checked ---------------------------------------------------------------


class AlreadyImportedError(DomainError):
    default_message = _("This file has already been imported.")

    def __init__(self, job_id: int):
        self.job_id = job_id
        super().__init__(gettext("This file has already been imported (job #%(job)s).") % {"job": job_id})


def checked_file_importable(job: Job) -> bool:
    """A dry-run import job that finished and would create or update something."""
    return (
        job.status in (Job.Status.SUCCEEDED, Job.Status.PARTIAL)
        and bool(job.input_file)
        and bool(job.counts.get("created") or job.counts.get("updated"))
    )


def ticket_import_from_check(*, checked_id: int, by) -> Job:
    """The real import of the file a finished dry-run job (started by `by`) checked: a queued import job of
    the same bytes, recorded on the dry-run job so the file is imported once, however often this is asked
    (the dry-run job's row is locked meanwhile). Its task is enqueued after commit.

    Raises Job.DoesNotExist when `by` has no such dry-run job, AlreadyImportedError when it was imported
    already, and DomainError when the check found nothing to import."""
    with transaction.atomic():
        checked = Job.objects.select_for_update().get(
            pk=checked_id, kind=IMPORT_KIND, started_by=by, params__dry_run=True
        )
        if imported_as := checked.params.get("import_job"):
            raise AlreadyImportedError(imported_as)
        if not checked_file_importable(checked):
            raise DomainError(gettext("This check has nothing to import."))
        with checked.input_file.open("rb") as handle:
            data = handle.read()
        job = ticket_import_start(by=by, file_name=posixpath.basename(checked.input_file.name), data=data)
        checked.params = {**checked.params, "import_job": job.pk}
        checked.save(update_fields=["params", "updated_at"])
    return job
