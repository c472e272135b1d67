"""The two file formats of the exports: CSV for Norwegian Excel and XLSX.

Rows hold typed values: `str`, `int`, `Decimal` (kroner, made exactly from øre), naive `datetime`
(already in the event's local time) or None. The CSV is what Excel with Norwegian settings opens
by a double click: UTF-8 with a byte order mark (else Excel reads it as Windows-1252 and breaks
every "Ø" and every name in another script), semicolons between fields and decimal commas.

Text typed by attendees (names, answers) must never run as a formula in a spreadsheet ("CSV
injection"): in CSV a value starting with =, +, -, @, a tab or a carriage return gets an
apostrophe in front, as OWASP advises; in XLSX every text is written as a string cell, which no
spreadsheet evaluates, whatever it starts with."""

import csv
import io
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

CSV_MIMETYPE = "text/csv"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIMETYPES = {"csv": CSV_MIMETYPE, "xlsx": XLSX_MIMETYPE}

# What makes Excel, LibreOffice or Google Sheets read a cell as a formula (or DDE command).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DATETIME_FORMAT = "%Y-%m-%d %H:%M"  # Excel in any language reads this as a date and time
XLSX_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
XLSX_MONEY_FORMAT = "#,##0.00"
MAX_CELL = 32767  # Excel's limit on the characters of one cell
MAX_WIDTH = 60  # widest column, in characters
WIDTH_SAMPLE = 2000  # rows looked at to size the columns: a few long answers further down do not matter


def neutralise(text: str) -> str:
    """Text as a CSV cell that no spreadsheet runs as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def money_text(amount: Decimal) -> str:
    """Kroner with a decimal comma and no thousands separator ("1234,50"), which Norwegian Excel
    reads as a number."""
    return f"{amount:.2f}".replace(".", ",")


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, Decimal):
        return money_text(value)
    if isinstance(value, datetime):
        return value.strftime(DATETIME_FORMAT)
    return str(value)


Progress = Callable[[int], None]


def _reporting(rows: Iterable[Sequence], progress: Progress | None, every: int) -> Iterator[Sequence]:
    """The rows; `progress(n)` is called after every `every` rows written, and after the last."""
    if progress is None:
        yield from rows
        return
    done = 0
    for row in rows:
        yield row
        done += 1  # the writer asks for the next row only once this one is written
        if done % every == 0:
            progress(done)
    if done % every:
        progress(done)


def to_csv(
    header: Sequence[str], rows: Iterable[Sequence], *, progress: Progress | None = None, every: int = 500
) -> bytes:
    """UTF-8 with BOM, semicolon-separated, CRLF line ends, quoted where the csv module must.
    With `progress`, it is told how many rows are written, every `every` rows."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([_csv_value(h) for h in header])
    writer.writerows([_csv_value(v) for v in row] for row in _reporting(rows, progress, every))
    return out.getvalue().encode("utf-8-sig")


def _text_width(text: str) -> int:
    """Roughly how many character widths a text takes: CJK characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _shown(value) -> str:
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        return "2027-05-27 14:00"
    return "" if value is None else str(value)


def column_widths(header: Sequence[str], rows: Sequence[Sequence]) -> list[int]:
    """A width per column that fits the header and the (first) values, within bounds."""
    widths = [_text_width(str(h)) for h in header]
    for row in rows[:WIDTH_SAMPLE]:
        for i, value in enumerate(row):
            longest = max(_text_width(line) for line in _shown(value).split("\n"))
            if longest > widths[i]:
                widths[i] = longest
    return [min(max(w + 2, 6), MAX_WIDTH) for w in widths]


def sheet_title(title: str) -> str:
    """A title Excel accepts for a sheet: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in title).strip(" '")
    return cleaned[:31] or "Sheet"


def to_xlsx(
    header: Sequence[str],
    rows: Sequence[Sequence],
    sheet_title_text: str,
    *,
    progress: Progress | None = None,
    every: int = 500,
) -> bytes:
    """One sheet: a bold, frozen header row, columns sized to their contents, numbers and money as
    numbers, times as Excel date-times, and every text as a string (never a formula). With
    `progress`, it is told how many rows are written, every `every` rows."""
    workbook = Workbook(write_only=True)  # rows stream to a temporary file, not into memory
    sheet = workbook.create_sheet(title=sheet_title(sheet_title_text))
    for i, width in enumerate(column_widths(header, rows), 1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def text_cell(text: str, font=None) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", text)[:MAX_CELL])
        cell.data_type = "s"  # openpyxl would make "=…" a formula and "#N/A" an error value
        if font is not None:
            cell.font = font
        return cell

    def cell_of(value):
        if isinstance(value, str):
            return text_cell(value)
        if isinstance(value, Decimal):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = XLSX_MONEY_FORMAT
            return cell
        if isinstance(value, datetime):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = XLSX_DATETIME_FORMAT
            return cell
        return value  # int or None

    sheet.append([text_cell(str(h), bold) for h in header])
    for row in _reporting(rows, progress, every):
        sheet.append([cell_of(v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
