"""The fixed answer lists of the built-in question kinds (country, organisation type, sector)."""

from functools import cache

import pycountry
from babel import Locale

from eventreg.events.models import Question, QuestionKind

ORG_TYPES = [
    ("company", {"nb": "Bedrift", "en": "Company"}),
    ("social_enterprise", {"nb": "Sosialt entreprenørskap", "en": "Social enterprise"}),
    ("ngo", {"nb": "Frivillig organisasjon", "en": "Non-profit organisation"}),
    ("public", {"nb": "Offentlig sektor", "en": "Public sector"}),
    ("academia", {"nb": "Forskning og utdanning", "en": "Research and education"}),
    ("finance", {"nb": "Bank og finans", "en": "Bank or finance"}),
    ("individual", {"nb": "Privatperson", "en": "Individual"}),
    ("other", {"nb": "Annet", "en": "Other"}),
]

SECTORS = [
    ("microfinance", {"nb": "Mikrofinans", "en": "Microfinance"}),
    ("agriculture", {"nb": "Landbruk og mat", "en": "Agriculture and food"}),
    ("education", {"nb": "Utdanning", "en": "Education"}),
    ("health", {"nb": "Helse", "en": "Health"}),
    ("technology", {"nb": "Teknologi", "en": "Technology"}),
    ("retail", {"nb": "Handel", "en": "Retail and trade"}),
    ("culture", {"nb": "Kultur", "en": "Culture"}),
    ("environment", {"nb": "Miljø og energi", "en": "Environment and energy"}),
    ("social", {"nb": "Sosiale tjenester", "en": "Social services"}),
    ("other", {"nb": "Annet", "en": "Other"}),
]


@cache
def countries(lang: str) -> tuple[tuple[str, str], ...]:
    """(ISO 3166 alpha-2 code, name in `lang`), sorted by name."""
    names = Locale.parse("nb_NO" if lang == "nb" else "en").territories
    pairs = ((c.alpha_2, names.get(c.alpha_2, c.name)) for c in pycountry.countries)
    return tuple(sorted(pairs, key=lambda p: p[1]))


@cache
def _country_codes() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def choices_for(question: Question, lang: str) -> list[tuple[str, str]]:
    """(value, label) pairs the question offers, in `lang`; empty for free-text kinds."""
    match question.kind:
        case QuestionKind.CHOICE | QuestionKind.MULTIPLE:
            return [(c["value"], c.get(lang) or c.get("en") or c["value"]) for c in question.choices]
        case QuestionKind.COUNTRY:
            return list(countries(lang))
        case QuestionKind.ORG_TYPE:
            return [(v, labels[lang]) for v, labels in ORG_TYPES]
        case QuestionKind.SECTOR:
            return [(v, labels[lang]) for v, labels in SECTORS]
        case QuestionKind.YESNO:
            return [
                ("yes", "Ja" if lang == "nb" else "Yes"),
                ("no", "Nei" if lang == "nb" else "No"),
            ]
    return []


def valid_values(question: Question) -> frozenset[str]:
    if question.kind == QuestionKind.COUNTRY:
        return _country_codes()
    return frozenset(v for v, _ in choices_for(question, "en"))
