"""Norwegian numbers (organisation numbers, KIDs, bank accounts) and bank statements as banks
export them; plain functions, no app or database."""

import pytest

from eventreg.payments.norway import (
    BadLine,
    BankLine,
    format_bank_account,
    format_org_number,
    invoice_kid,
    kid_with_check_digit,
    normalise_org_number,
    parse_amount,
    parse_bank_statement,
    valid_bank_account,
    valid_kid,
    valid_org_number,
)

NBSP = "\u00a0"

# --- organisation numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "997654323",
        "997 654 323",
        "NO 997 654 323 MVA",
        "no997654323mva",
        "997.654.323",
        " 997\u00a0654\t323 ",
    ],
)
def test_org_numbers_are_normalised(raw):
    assert normalise_org_number(raw) == "997654323"


@pytest.mark.parametrize("digits", ["997654323", "987654325", "923609016"])
def test_valid_org_numbers(digits):
    assert valid_org_number(digits)


@pytest.mark.parametrize(
    "digits",
    [
        "997654324",  # wrong check digit
        "99765432",  # too short
        "9976543230",  # too long
        "99765432a",
        "",
        "٩٩٧٦٥٤٣٢٣",  # Arabic-Indic digits are digits to isdigit(), not to us
        *(f"10000013{d}" for d in "0123456789"),  # check digit 10: no valid number starts so
    ],
)
def test_invalid_org_numbers(digits):
    assert not valid_org_number(digits)


def test_org_number_with_remainder_zero_has_check_digit_zero():
    # 3*1 + 2*0 + 7*0 + 6*0 + 5*0 + 4*0 + 3*0 + 2*4 = 11: remainder 0, so check digit 0
    assert valid_org_number("100000040")
    assert not valid_org_number("100000041")


def test_org_number_formatting():
    assert format_org_number("997654323") == "997 654 323"
    assert format_org_number("") == ""
    assert format_org_number("12345") == "12345"


# --- KID ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "kid"),
    [("1234567", "12345674"), ("0000001", "00000018"), ("7992739871", "79927398713"), ("0", "00")],
)
def test_kid_check_digits(base, kid):
    assert kid_with_check_digit(base) == kid
    assert valid_kid(kid)


def test_kid_base_must_be_digits():
    with pytest.raises(ValueError):
        kid_with_check_digit("12a4")


@pytest.mark.parametrize(
    "kid",
    ["12345675", "1", "1" * 26, "1234567-", "1234 5674", "", "١٢٣٤٥٦٧٤"],
)
def test_invalid_kids(kid):
    assert not valid_kid(kid)


def test_invoice_kids_are_eight_digits_with_mod10():
    assert invoice_kid(1) == "00000018"
    assert invoice_kid(1234567) == "12345674"
    assert all(len(invoice_kid(n)) == 8 and valid_kid(invoice_kid(n)) for n in (1, 42, 999, 9_999_999))
    for number in (0, -1, 10_000_000):
        with pytest.raises(ValueError):
            invoice_kid(number)


# --- bank accounts --------------------------------------------------------------------------------


def test_bank_accounts():
    assert valid_bank_account("15031234562")
    assert valid_bank_account("86011117947")
    assert not valid_bank_account("15031234563")
    assert not valid_bank_account("1503123456")
    assert not valid_bank_account("1503.12.34562")
    assert format_bank_account("15031234562") == "1503.12.34562"
    assert format_bank_account("") == ""


# --- amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ore"),
    [
        ("1 250,00", 125000),
        (f"1{NBSP}250,00", 125000),
        ("1\u202f250,00", 125000),
        ("1.250,00", 125000),
        ("1250.00", 125000),
        ("1,250.00", 125000),
        ("1250", 125000),
        ("1250,5", 125050),
        ("0,01", 1),
        ("-300,00", -30000),
        ("\u2212300,00", -30000),
        ("+300,00", 30000),
        ("1 234 567,89", 123456789),
        ("1.234.567,89", 123456789),
        ("1250,-", 125000),
        ("kr 1 250,00", 125000),
        ("12345678901234,99", 1234567890123499),  # exact, where a float would not be
    ],
)
def test_amounts(text, ore):
    assert parse_amount(text) == ore


@pytest.mark.parametrize(
    "text", ["", "abc", "1,250,00", "1.250.5", "1.2345", "12.34.56", "--5", "12,3,4", "1e3"]
)
def test_not_amounts(text):
    assert parse_amount(text) is None


def test_three_digits_after_a_separator_are_thousands():
    # Money has two decimals, so "12,345" and "12.345" can only be 12 345 kroner.
    assert parse_amount("12,345") == parse_amount("12.345") == 12345_00


# --- bank statements ----------------------------------------------------------------------------

NORWEGIAN = (
    "Dato;Forklaring;KID;Inn;Ut\r\n"
    "20.01.2027;Giro fra Åse Ødegård;00000018;1 250,00;\r\n"
    f"21.01.2027;Nettgiro Grønland AS;12345674;12{NBSP}500,00;\r\n"
    "\r\n"
    "22.01.2027;Husleie januar;;;8 000,00\r\n"
    "23.01.2027;Innbetaling uten KID;;300,00;\r\n"
    "24.01.2027;Feil KID;12345675;300,00;\r\n"
    "24.01.2027;Uleselig;12345674;tre hundre;\r\n"
    "32.01.2027;Rar dato;12345674;300,00;\r\n"
    "25/01/2027;Ørsmå beløp;00000042;0,50;\r\n"
)


def test_norwegian_semicolon_statement_in_cp1252():
    statement = parse_bank_statement(NORWEGIAN.encode("cp1252"))
    assert [line.line_no for line in statement.lines] == [2, 3, 10]
    first, second, tiny = statement.lines
    assert first == BankLine(
        line_no=2, date=first.date, amount_ore=125000, kid="00000018", text="Giro fra Åse Ødegård"
    )
    assert first.date.isoformat() == "2027-01-20"
    assert second.amount_ore == 1250000 and second.text == "Nettgiro Grønland AS"
    assert tiny.amount_ore == 50 and tiny.date.isoformat() == "2027-01-25"
    assert [(bad.line_no, bad.code) for bad in statement.bad_lines] == [
        (5, "not_income"),
        (6, "no_kid"),
        (7, "bad_kid"),
        (8, "bad_amount"),
        (9, "bad_date"),
    ]
    money_out = statement.bad_lines[0]
    assert money_out.raw == "22.01.2027;Husleie januar;;;8 000,00"
    assert money_out.problem.endswith(".") and money_out.problem[0].isupper()


def test_the_same_statement_in_utf8_with_and_without_bom():
    expected = parse_bank_statement(NORWEGIAN.encode("cp1252"))
    assert parse_bank_statement(NORWEGIAN.encode("utf-8")) == expected
    assert parse_bank_statement(NORWEGIAN.encode("utf-8-sig")) == expected
    assert parse_bank_statement(NORWEGIAN.encode("utf-16")) == expected


def test_english_comma_statement_with_a_signed_amount_column():
    data = (
        b"Booking date,Description,Amount,KID\n"
        b'2027-01-20,"Payment, thank you",1250.00,00000018\n'
        b'2027-01-21,Card fee,"-300.00",\n'
        b'2027-01-22,"Wire ""transfer""","1,250.50",12345674\n'
        b"2027-01-23,No KID,250.00,\n"
        b"2027-01-24,Bad amount,12.34.56,12345674\n"
    )
    statement = parse_bank_statement(data)
    assert [(line.line_no, line.amount_ore, line.kid, line.text) for line in statement.lines] == [
        (2, 125000, "00000018", "Payment, thank you"),
        (4, 125050, "12345674", 'Wire "transfer"'),
    ]
    assert [(bad.line_no, bad.code) for bad in statement.bad_lines] == [
        (3, "not_income"),
        (5, "no_kid"),
        (6, "bad_amount"),
    ]


def test_tab_separated_statement_with_other_column_names():
    data = (
        "BOKFØRINGSDATO\tBeskrivelse\tKID-nummer\tInn på konto\tUt fra konto\n"
        "2027-01-20 00:00\tGiro\t 0000 0018 \t1 250,00\t\n"
        "20.01.27\tGiro\t12345674\t1.250,00\t\n"
    ).encode()
    statement = parse_bank_statement(data)
    assert [(line.date.isoformat(), line.kid, line.amount_ore) for line in statement.lines] == [
        ("2027-01-20", "00000018", 125000),
        ("2027-01-20", "12345674", 125000),
    ]
    assert statement.bad_lines == []


def test_statement_without_date_or_text_columns():
    statement = parse_bank_statement("KID;Beløp\n00000018;100\n".encode())
    assert statement.lines == [BankLine(line_no=2, date=None, amount_ore=10000, kid="00000018", text="")]


def test_lines_keep_their_numbers_in_the_file():
    data = "\n\nDato;KID;Beløp\n\n01.02.2027;00000018;100,00\n;;\n02.02.2027;;100,00\n".encode()
    statement = parse_bank_statement(data)
    assert [line.line_no for line in statement.lines] == [5]
    assert statement.bad_lines == [BadLine(7, "02.02.2027;;100,00", statement.bad_lines[0].problem, "no_kid")]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n\n",
        b"Date;Text;Reference;Amount\n2027-01-20;Giro;00000018;100,00\n",  # "Reference" is no KID column
        b"20.01.2027;Giro;00000018;100,00\n",  # no header at all
    ],
)
def test_statement_without_a_recognisable_header(data):
    with pytest.raises(ValueError) as error:
        parse_bank_statement(data)
    message = str(error.value)
    assert '"KID"' in message and '"Beløp"' in message and '"Amount"' in message
