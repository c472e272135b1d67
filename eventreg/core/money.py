"""Money is integer øre; prices are gross (VAT included), as Norwegian consumers see them."""

from decimal import Decimal

from babel.numbers import format_currency


def vat_included(gross_ore: int, vat_rate: int) -> int:
    """The VAT part of a gross amount at `vat_rate` percent, rounded half up to whole øre."""
    if vat_rate == 0:
        return 0
    return (gross_ore * vat_rate * 2 + (100 + vat_rate)) // (2 * (100 + vat_rate))


def percent_of(amount_ore: int, percent: int) -> int:
    """`percent` of an amount, rounded half up to whole øre."""
    return (amount_ore * percent * 2 + 100) // 200


def format_money(ore: int, lang: str, currency: str = "NOK") -> str:
    locale = "nb_NO" if lang == "nb" else "en"
    return format_currency(Decimal(ore) / 100, currency, locale=locale)
