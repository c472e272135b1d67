"""Norwegian numbers on sales documents and bank statements: organisation numbers (MOD11), KIDs
(MOD10), bank account numbers (MOD11), and the CSV statements Norwegian banks export, read to
match payments to invoices by their KID.

Plain functions without Flask or the database, so they can be used and tested anywhere."""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime

# --- check digits ---------------------------------------------------------------------------


def _mod11_check(digits: str, weights: tuple[int, ...]) -> int | None:
    """The MOD11 check digit of `digits` with `weights`; None where the rule gives 10, which means
    no number with these digits is valid."""
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    check = (11 - remainder) % 11  # remainder 0 gives check digit 0
    return None if check == 10 else check


def _mod10_check(digits: str) -> int:
    """The MOD10 (Luhn) check digit of `digits`: from the right, every other digit is doubled,
    starting with the last one."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def _all_digits(text: str) -> bool:
    # str.isdigit() is also true for "²" and other digits int() reads differently or not at all
    return bool(text) and text.isascii() and text.isdigit()


# --- organisation numbers ---------------------------------------------------------------------

_ORG_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def normalise_org_number(raw: str) -> str:
    """The organisation number as written by people ("NO 997 654 323 MVA", "997.654.323") without
    spaces, dots, the leading "NO" and the trailing "MVA" (any case): "997654323". Not validated:
    see `valid_org_number`."""
    text = re.sub(r"[\s.]", "", raw or "").upper()
    text = text.removeprefix("NO")
    return text.removesuffix("MVA")


def valid_org_number(digits: str) -> bool:
    """Whether `digits` is an organisation number of the Brønnøysund registers: nine digits, the
    last one the MOD11 check digit of the first eight (weights 3, 2, 7, 6, 5, 4, 3, 2)."""
    if len(digits) != 9 or not _all_digits(digits):
        return False
    return _mod11_check(digits[:8], _ORG_WEIGHTS) == int(digits[8])


def format_org_number(digits: str) -> str:
    """ "997654323" → "997 654 323", as the registers write it; anything else comes back as it was."""
    if len(digits) != 9 or not _all_digits(digits):
        return digits
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


# --- KID --------------------------------------------------------------------------------------

# We issue MOD10 KIDs of a fixed length: banks check KIDs against the length and check digit
# method agreed for the account (OCR giro agreement), so every KID has the same shape.
INVOICE_KID_DIGITS = 7  # of the invoice number; the KID has one more, the check digit


def kid_with_check_digit(base: str) -> str:
    """`base` (digits) with its MOD10 (Luhn) check digit appended: "1234567" → "12345674".
    ValueError if `base` is not digits."""
    if not _all_digits(base):
        raise ValueError(f"a KID is made of digits, got {base!r}")
    return base + str(_mod10_check(base))


def valid_kid(kid: str) -> bool:
    """Whether `kid` is a KID as we issue them: 2 to 25 digits, the last one the MOD10 check digit
    of the others. (Banks also know MOD11 KIDs, which may end in "-"; we never issue those, so a
    payment carrying one is not for us.)"""
    if not 2 <= len(kid) <= 25 or not _all_digits(kid):
        return False
    return _mod10_check(kid[:-1]) == int(kid[-1])


def invoice_kid(number: int) -> str:
    """The KID of invoice `number`: the number zero-padded to 7 digits and its MOD10 check digit,
    8 digits in all (invoice 1 → "00000018"). ValueError for numbers that do not fit in 7 digits."""
    if not 0 < number < 10**INVOICE_KID_DIGITS:
        raise ValueError(f"invoice numbers for KIDs run from 1 to {10**INVOICE_KID_DIGITS - 1}, got {number}")
    return kid_with_check_digit(str(number).zfill(INVOICE_KID_DIGITS))


# --- bank accounts ----------------------------------------------------------------------------

_ACCOUNT_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def valid_bank_account(digits: str) -> bool:
    """Whether `digits` is a Norwegian bank account number: 11 digits, the last one the MOD11 check
    digit of the first ten (weights 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)."""
    if len(digits) != 11 or not _all_digits(digits):
        return False
    return _mod11_check(digits[:10], _ACCOUNT_WEIGHTS) == int(digits[10])


def format_bank_account(digits: str) -> str:
    """ "15031234562" → "1503.12.34562", as banks print account numbers; anything else comes back
    as it was."""
    if len(digits) != 11 or not _all_digits(digits):
        return digits
    return f"{digits[:4]}.{digits[4:6]}.{digits[6:]}"


# --- bank statements --------------------------------------------------------------------------


@dataclass(frozen=True)
class BankLine:
    """Money paid in with a well-formed KID."""

    line_no: int  # in the file, the header being line 1
    date: date | None  # None when the file has no date column or the cell is empty
    amount_ore: int  # > 0
    kid: str
    text: str


@dataclass(frozen=True)
class BadLine:
    """A line of the statement that is not a payment we can match, and why."""

    line_no: int
    raw: str  # the line as it is in the file
    problem: str  # an English sentence, for logs; people are shown the translation of `code`
    code: str  # "no_kid", "bad_kid", "bad_amount", "bad_date" or "not_income"


@dataclass(frozen=True)
class BankStatement:
    lines: list[BankLine] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)


# Column names as banks write them, compared case-insensitively; the first one present wins.
_DATE_COLUMNS = ("Dato", "Bokføringsdato", "Bokført dato", "Date", "Booking date")
_AMOUNT_COLUMNS = ("Beløp", "Inn", "Inn på konto", "Innskudd", "Amount", "Credit")
_OUT_COLUMNS = ("Ut", "Ut fra konto", "Uttak", "Debit")  # money out, in a column of its own
_KID_COLUMNS = ("KID", "KID-nummer", "KID nummer", "KIDnummer")
_TEXT_COLUMNS = ("Tekst", "Beskrivelse", "Forklaring", "Description", "Text")

_DATE_FORMATS = ("%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%y")
# An optional sign, digits with or without thousands groups ("." or ","; spaces are removed
# before), and up to two decimals after the other separator.
_AMOUNT = re.compile(r"([+-]?)(\d{1,3}(?:([.,])\d{3}(?:\3\d{3})*)?|\d+)(?:([.,])(\d{1,2}|-))?")


def _decode(data: bytes) -> str:
    """The text of a statement: UTF-16 or UTF-8 when it starts with a byte order mark, else UTF-8
    if it is valid UTF-8, else Windows-1252 (what Excel and older bank exports write)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _column_key(name: str) -> str:
    return " ".join(name.strip().strip('"').casefold().split())


def _find_column(header: list[str], names: tuple[str, ...]) -> int | None:
    keys = [_column_key(cell) for cell in header]
    for name in names:
        if _column_key(name) in keys:
            return keys.index(_column_key(name))
    return None


def parse_amount(text: str) -> int | None:
    """An amount as banks write it ("1 250,00", "1.250,00", "1250.00", "-300,00", "1,250.00",
    "1250,-", with spaces or no-break spaces between thousands) in øre, exactly; None if it is
    not one."""
    compact = "".join(text.split()).replace("\u2212", "-")  # split() also drops NBSP and thin spaces
    compact = re.sub(r"^(?:NOK|kr\.?)|(?:NOK|kr\.?)$", "", compact, flags=re.IGNORECASE)
    match = _AMOUNT.fullmatch(compact)
    if match is None:
        return None
    sign, whole, grouping, decimal_sep, decimals = match.groups()
    if grouping and decimal_sep == grouping:
        return None  # "1,250,00": no way to tell thousands from decimals
    if decimals == "-":
        decimals = "00"
    ore = int(re.sub(r"[.,]", "", whole)) * 100 + int((decimals or "0").ljust(2, "0"))
    return -ore if sign == "-" else ore


def _parse_date(text: str) -> date | None:
    words = text.split()  # some banks add a time of day
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(words[0], fmt).date()
        except (ValueError, IndexError):
            continue
    return None


def _delimiter(header_line: str) -> str:
    # Column names never contain the delimiter, so the header shows it plainly.
    counts = {d: header_line.count(d) for d in (";", "\t", ",")}
    return max(counts, key=counts.__getitem__)


def _needed_columns() -> str:
    def names(columns: tuple[str, ...]) -> str:
        return ", ".join(f'"{n}"' for n in columns)

    return (
        f"an amount column ({names(_AMOUNT_COLUMNS)}) and a KID column ({names(_KID_COLUMNS)}); "
        f"a date column ({names(_DATE_COLUMNS)}) and a text column ({names(_TEXT_COLUMNS)}) are "
        "read too when present"
    )


def _read_line(
    columns: dict[str, int | None], line_no: int, raw: str, cells: list[str]
) -> BankLine | BadLine:
    def cell(key: str) -> str:
        index = columns[key]
        return cells[index].strip() if index is not None and index < len(cells) else ""

    def bad(code: str, problem: str) -> BadLine:
        return BadLine(line_no=line_no, raw=raw, problem=problem, code=code)

    amount_text, out_text = cell("amount"), cell("out")
    if not amount_text:
        if out_text:
            return bad("not_income", f"Money out of the account ({out_text}), not a payment to us.")
        return bad("bad_amount", "The line has no amount.")
    amount = parse_amount(amount_text)
    if amount is None:
        return bad("bad_amount", f"The amount {amount_text!r} is not an amount of money.")
    if amount <= 0:
        return bad("not_income", f"The amount {amount_text} is not money paid in.")
    date_text = cell("date")
    day = _parse_date(date_text) if date_text else None
    if date_text and day is None:
        return bad(
            "bad_date", f"The date {date_text!r} is not a date (20.01.2027, 2027-01-20 or 20/01/2027)."
        )
    kid = "".join(cell("kid").split())
    if not kid:
        return bad("no_kid", "The payment has no KID.")
    if not valid_kid(kid):
        return bad(
            "bad_kid", f"The KID {kid!r} is not one of ours: 2 to 25 digits, the last a MOD10 check digit."
        )
    return BankLine(line_no=line_no, date=day, amount_ore=amount, kid=kid, text=cell("text"))


def parse_bank_statement(data: bytes) -> BankStatement:
    """The payments in a bank statement exported as CSV by a Norwegian bank: UTF-8 (with or
    without BOM), UTF-16 with BOM or Windows-1252; ";", "," or tab between columns; a header as the
    first non-empty line, whose columns are found by their Norwegian or English names.

    Money paid in with a well-formed MOD10 KID becomes a BankLine; every other non-empty line a
    BadLine saying why ("bad_amount", "not_income" for money out, "bad_date", "no_kid",
    "bad_kid", checked in that order). Line numbers are those of the file (the header is line 1).

    Raises ValueError, with an English message naming the columns needed, when the file is empty
    or its first line does not name an amount and a KID column."""
    text = _decode(data)
    physical = re.split(r"\r\n|\r|\n", text)  # the line breaks csv and StringIO(newline="") know
    header_line = next((line for line in physical if line.strip()), None)
    if header_line is None:
        raise ValueError(f"The bank statement is empty. Its first line must name {_needed_columns()}.")

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(header_line))
    rows: list[tuple[int, str, list[str]]] = []  # (line number, raw text, cells) of non-empty rows
    done = 0  # lines read so far: a quoted cell may span several
    for cells in reader:
        start, done = done, reader.line_num
        if any(c.strip() for c in cells):
            rows.append((start + 1, "\n".join(physical[start:done]), cells))

    header = rows[0][2]
    columns = {
        "date": _find_column(header, _DATE_COLUMNS),
        "amount": _find_column(header, _AMOUNT_COLUMNS),
        "out": _find_column(header, _OUT_COLUMNS),
        "kid": _find_column(header, _KID_COLUMNS),
        "text": _find_column(header, _TEXT_COLUMNS),
    }
    if columns["amount"] is None or columns["kid"] is None:
        found = ", ".join(f'"{c.strip()}"' for c in header if c.strip())
        raise ValueError(
            f"The first line of the bank statement must name {_needed_columns()}. It has {found}."
        )

    statement = BankStatement()
    for line_no, raw, cells in rows[1:]:
        line = _read_line(columns, line_no, raw, cells)
        (statement.lines if isinstance(line, BankLine) else statement.bad_lines).append(line)
    return statement
