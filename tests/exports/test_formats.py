"""The CSV and XLSX writers on their own: encoding, separators, types and formula injection."""

import codecs
import csv
import io
import zipfile
from datetime import datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from eventreg.exports.formats import column_widths, sheet_title, to_csv, to_xlsx
from eventreg.exports.services import kroner

HEADER = ["Name", "Note", "Amount (kr)", "At", "Count"]
ROWS = [
    ["Åse Ødegård", 'says "hi"; twice\nand again', Decimal("1234.50"), datetime(2027, 5, 10, 14, 0), 3],
    ["陈伟", None, Decimal("0.05"), None, 0],
]
FORMULAS = ["=1+2", "+47 99 99 99 99", "-2+3", "@SUM(A1:A2)", "\t=1+2", "\r=1+2"]


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))


def read_xlsx(data: bytes):
    return load_workbook(io.BytesIO(data)).active


def test_csv_is_utf8_with_bom_semicolons_and_crlf():
    data = to_csv(HEADER, ROWS)
    assert data.startswith(codecs.BOM_UTF8)
    assert data.count(b"\r\n") == 3  # the header and two rows (the newline inside a field is quoted)
    assert data.decode("utf-8-sig").splitlines()[0] == "Name;Note;Amount (kr);At;Count"
    assert read_csv(data) == [
        HEADER,
        ["Åse Ødegård", 'says "hi"; twice\nand again', "1234,50", "2027-05-10 14:00", "3"],
        ["陈伟", "", "0,05", "", "0"],
    ]


@pytest.mark.parametrize("value", FORMULAS)
def test_a_formula_in_csv_gets_an_apostrophe(value):
    assert read_csv(to_csv(["x"], [[value]]))[1] == ["'" + value]


@pytest.mark.parametrize("value", ["Åse", "1-2", "a=b", "kari@example.org", "'quoted'"])
def test_other_text_is_left_alone(value):
    assert read_csv(to_csv(["x"], [[value]]))[1] == [value]


def test_money_is_made_from_ore_exactly():
    assert kroner(123450) == Decimal("1234.50")
    assert str(kroner(0)) == "0.00"
    assert str(kroner(5)) == "0.05"
    assert str(kroner(10_000_000_001)) == "100000000.01"  # where a float would round


def test_xlsx_keeps_types_and_writes_every_text_as_a_string():
    data = to_xlsx(
        ["Name", "Amount (kr)", "At", "Count"],
        [
            [FORMULAS[0], Decimal("1234.50"), datetime(2027, 5, 10, 14, 0), 7],
            ["#N/A", Decimal("0.05"), None, None],
            ["bell\x07 and tab\tok", Decimal("0.00"), None, 0],
        ],
        "Attendees",
    )
    sheet = read_xlsx(data)
    formula, money, at, count = sheet[2]
    assert (formula.value, formula.data_type) == ("=1+2", "s")
    assert (money.value, money.data_type, money.number_format) == (1234.5, "n", "#,##0.00")
    assert at.value == datetime(2027, 5, 10, 14, 0) and at.is_date and at.number_format == "yyyy-mm-dd hh:mm"
    assert (count.value, count.data_type) == (7, "n")
    assert (sheet["A3"].value, sheet["A3"].data_type) == ("#N/A", "s")  # not an error value
    assert sheet["A4"].value == "bell and tab\tok"  # characters XML cannot carry are dropped
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml  # no formula anywhere


def test_xlsx_header_is_bold_and_frozen_and_columns_fit():
    data = to_xlsx(HEADER, ROWS, "Attendees")
    sheet = read_xlsx(data)
    assert sheet.title == "Attendees"
    assert [c.value for c in sheet[1]] == HEADER
    assert all(c.font.bold for c in sheet[1])
    assert not sheet["A2"].font.bold
    assert sheet.freeze_panes == "A2"
    widths = {k: d.width for k, d in sheet.column_dimensions.items()}
    assert widths["A"] >= len("Åse Ødegård") and widths["E"] < widths["B"]
    assert [c.value for c in sheet[2]][0] == "Åse Ødegård"
    assert sheet.max_row == 3


def test_column_widths_count_wide_characters_twice_and_stay_within_bounds():
    assert column_widths(["x", "y", "z"], [["陈伟陈伟", "a" * 500, None]]) == [10, 60, 6]


def test_sheet_titles_excel_accepts():
    assert sheet_title("Check-ins") == "Check-ins"
    assert sheet_title("a/b: c?[d]*") == "a b  c  d"
    assert len(sheet_title("x" * 40)) == 31
    assert sheet_title("") == "Sheet"
