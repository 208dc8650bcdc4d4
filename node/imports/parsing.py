"""Reading member files: format detection, column names (English or Chinese) and cell values.

No database here. Rows stream out one at a time, so a large file is never held twice in memory;
the caller decides what to keep. File-level problems (unreadable file, unknown or missing
columns) raise `InvalidInput` with `errors["file"]`, before any row is looked at.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import datetime as dt
import enum
import io
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import PurePath
from typing import IO, Any, cast

from shared.errors import DomainError, InvalidInput

#: Field name -> the headers accepted for it besides the field name itself.
FIELD_HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("姓名",),
    "national_id": ("身份证号", "身份证号码", "公民身份号码"),
    "org_code": ("组织编码",),
    "org_external_code": ("组织外部编码",),
    "stage": ("发展阶段",),
    "ethnicity": ("民族",),
    "education": ("学历",),
    "admitted_on": ("入党日期",),
    "full_on": ("转正日期",),
    "applied_on": ("申请日期",),
    "phone": ("手机", "手机号", "手机号码"),
    "email": ("邮箱", "电子邮箱"),
    "address": ("地址",),
    "work_unit": ("工作单位",),
    "occupation": ("职业",),
}
FIELDS = tuple(FIELD_HEADERS)
REQUIRED_FIELDS = ("name", "national_id", "stage")
#: At least one of these names the member's organization.
ORG_FIELDS = ("org_code", "org_external_code")
DATE_FIELDS = ("applied_on", "admitted_on", "full_on")

_HEADER_TO_FIELD = {field: field for field in FIELDS} | {
    header: field for field, headers in FIELD_HEADERS.items() for header in headers}
_DATE_RE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
_CHUNK = 1 << 20


class FileFormat(enum.StrEnum):
    csv = "csv"
    xlsx = "xlsx"


class UnsupportedFileType(DomainError):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported file type"


def file_error(message: str) -> InvalidInput:
    return InvalidInput(message, errors={"file": [message]})


def detect_format(filename: str | None, head: bytes) -> FileFormat:
    """By content first (an .xlsx is a zip), then by the name's extension."""
    suffix = PurePath(filename or "").suffix.lower()
    if head.startswith(_ZIP_MAGIC) or suffix == ".xlsx":
        return FileFormat.xlsx
    if head.startswith(_OLE2_MAGIC) or suffix == ".xls":
        raise UnsupportedFileType("Legacy .xls workbooks are not read; save the sheet as .xlsx.",
                                  errors={"file": ["Save the workbook as .xlsx or .csv."]})
    if suffix in (".csv", ".txt"):
        return FileFormat.csv
    raise UnsupportedFileType("Upload a .csv or .xlsx file.",
                              errors={"file": ["Upload a .csv or .xlsx file."]})


def normalize_header(value: Any) -> str:
    """`" Name* "` -> `"name"`: templates often mark required columns with a star."""
    text = cell_text(value) or ""
    return text.replace("\u3000", " ").strip().rstrip("*＊").strip().lower()


def map_header(cells: Sequence[Any]) -> list[str | None]:
    """The field of each column (None for an unnamed column), or a file-level error."""
    columns: list[str | None] = []
    unknown: list[str] = []
    seen: dict[str, str] = {}
    duplicates: list[str] = []
    for cell in cells:
        header = normalize_header(cell)
        if not header:
            columns.append(None)
            continue
        field = _HEADER_TO_FIELD.get(header)
        if field is None:
            unknown.append(header)
        elif field in seen:
            duplicates.append(f"{seen[field]} / {header}")
        else:
            seen[field] = header
        columns.append(field)
    problems = []
    if unknown:
        problems.append(f"Unknown columns: {', '.join(unknown)}.")
    if duplicates:
        problems.append(f"Columns given twice: {', '.join(duplicates)}.")
    missing = [f for f in REQUIRED_FIELDS if f not in seen]
    if missing:
        problems.append(f"Missing required columns: {', '.join(missing)}.")
    if not any(f in seen for f in ORG_FIELDS):
        problems.append("Missing the organization column: org_code (组织编码) or "
                        "org_external_code (组织外部编码).")
    if problems:
        raise InvalidInput("The header row is not valid. " + " ".join(problems),
                           errors={"file": problems})
    return columns


def cell_text(value: Any) -> str | None:
    """A cell as trimmed text; None when empty. Numbers typed into Excel lose their `.0`."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, dt.datetime):
        text = value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    elif isinstance(value, dt.date):
        text = value.isoformat()
    else:
        text = str(value).strip()
    return text or None


def cell_date(value: Any) -> dt.date:
    """A real spreadsheet date, or text YYYY-MM-DD (also with / or .); ValueError otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    match = _DATE_RE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError("Not a date; use YYYY-MM-DD.")
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        raise ValueError("Not a valid date.") from None


@dataclasses.dataclass
class Table:
    """An opened file: the field of each column and an iterator of (row number, cells)."""

    format: FileFormat
    columns: list[str | None]
    rows: Iterator[tuple[int, Sequence[Any]]]
    estimated_rows: int | None


@contextlib.contextmanager
def open_table(stream: IO[bytes], filename: str | None) -> Iterator[Table]:
    """Open a binary stream as a table; the header row is row 1."""
    if not stream.seekable():
        spooled = tempfile.SpooledTemporaryFile(max_size=_CHUNK)  # noqa: SIM115 (closed below)
        shutil.copyfileobj(stream, spooled)
        spooled.seek(0)
        with spooled, open_table(cast(IO[bytes], spooled), filename) as table:
            yield table
        return
    head = stream.read(8)
    stream.seek(0)
    fmt = detect_format(filename, head)
    if fmt == FileFormat.xlsx:
        with _open_xlsx(stream) as table:
            yield table
    else:
        with _open_csv(stream) as table:
            yield table


def _scan_text(stream: IO[bytes]) -> tuple[str, int]:
    """Pick UTF-8 (BOM or not) or the GB18030 fallback by decoding the whole file once."""
    for encoding in ("utf-8-sig", "gb18030"):
        stream.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        lines = 0
        try:
            while chunk := stream.read(_CHUNK):
                decoder.decode(chunk)
                lines += chunk.count(b"\n")
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        stream.seek(0)
        return encoding, lines
    raise file_error("The file is not text in UTF-8 or GB18030.")


@contextlib.contextmanager
def _open_csv(stream: IO[bytes]) -> Iterator[Table]:
    encoding, lines = _scan_text(stream)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        first = text.readline()
        delimiter = "\t" if "\t" in first and "," not in first else ","
        text.seek(0)
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise file_error("The file is empty.") from None
        except csv.Error as exc:
            raise file_error(f"The header row is not valid CSV: {exc}.") from None
        columns = map_header(header)
        yield Table(FileFormat.csv, columns, _csv_rows(reader), max(lines - 1, 0))
    finally:
        text.detach()  # the caller owns the stream


def _csv_rows(reader: Any) -> Iterator[tuple[int, Sequence[Any]]]:
    number = 1
    try:
        for number, cells in enumerate(reader, start=2):
            yield number, cells
    except csv.Error as exc:
        raise file_error(f"Row {number + 1} is not valid CSV: {exc}.") from None


@contextlib.contextmanager
def _open_xlsx(stream: IO[bytes]) -> Iterator[Table]:
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unsupported extensions in users' workbooks
            workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True,
                                              keep_links=False)
    except Exception:  # zipfile, XML and openpyxl errors alike: the file is unreadable
        raise file_error("The file is not a readable .xlsx workbook.") from None
    try:
        if not workbook.worksheets:
            raise file_error("The workbook has no worksheet.")
        sheet = workbook.worksheets[0]
        rows = _xlsx_rows(sheet.iter_rows(values_only=True))
        try:
            _, header = next(rows)
        except StopIteration:
            raise file_error("The first worksheet is empty.") from None
        max_row = getattr(sheet, "max_row", None)
        yield Table(FileFormat.xlsx, map_header(header), rows,
                    max_row - 1 if isinstance(max_row, int) and max_row > 1 else None)
    finally:
        workbook.close()


def _xlsx_rows(cells: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, Sequence[Any]]]:
    number = 0
    try:
        for number, row in enumerate(cells, start=1):
            yield number, row
    except DomainError:
        raise
    except Exception:
        raise file_error(f"The workbook cannot be read after row {number}.") from None
