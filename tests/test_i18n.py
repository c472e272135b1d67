"""The translation catalogues: nb is complete and in step with the code, and the pages and the
API really answer in the language asked for.

The .mo files are not committed; scripts/env.sh (sourced by ./test.sh and ./start.sh) compiles
them. After editing a .po file by hand, run `pybabel compile -d translations`."""

import re
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from eventreg.demo import seed_demo
from eventreg.events.models import Event, TicketType
from eventreg.extensions import db

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
NB_PO = TRANSLATIONS / "nb" / "LC_MESSAGES" / "messages.po"
NB_MO = TRANSLATIONS / "nb" / "LC_MESSAGES" / "messages.mo"
EXTRACT = ["extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-k", "lazy_ngettext:1,2"]

# printf-style placeholders as Flask-Babel fills them: %(name)s, %(n)d, and the literal %%.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def placeholders(text: str) -> Counter:
    return Counter(PLACEHOLDER.findall(text))


def read_catalog(path) -> Catalog:
    with open(path, "rb") as f:
        return read_po(f)


@cache
def nb_catalog() -> Catalog:
    return read_catalog(NB_PO)


def nb(msgid: str) -> str:
    """The nb translation of `msgid`, as the catalogue has it."""
    message = nb_catalog().get(msgid)
    assert message is not None and message.string, f"{msgid!r} is not translated in {NB_PO}"
    return message.string


def messages(catalog: Catalog) -> list:
    return [m for m in catalog if m.id]  # the first entry is the header


def as_set(catalog: Catalog) -> set:
    return {m.id for m in messages(catalog)}


def describe(ids) -> str:
    return "\n".join(f"  {i!r}" for i in sorted(ids, key=str))


# --- the catalogue itself ----------------------------------------------------------------------


def test_nb_catalogue_is_bokmal_with_two_plural_forms():
    catalog = nb_catalog()
    assert str(catalog.locale) == "nb"
    assert catalog.num_plurals == 2
    assert not catalog.fuzzy, "the header of the nb catalogue is marked fuzzy: pybabel compile skips it"
    assert len(messages(catalog)) > 100


def test_every_nb_message_is_translated_and_not_fuzzy():
    untranslated, fuzzy = [], []
    for m in messages(nb_catalog()):
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if not all(s and s.strip() for s in strings):
            untranslated.append(m.id)
        if m.fuzzy:
            fuzzy.append(m.id)
    assert not untranslated, f"untranslated in {NB_PO}:\n{describe(untranslated)}"
    assert not fuzzy, f"fuzzy (skipped by pybabel compile) in {NB_PO}:\n{describe(fuzzy)}"


def test_every_nb_translation_keeps_the_placeholders_of_its_msgid():
    wrong = []
    for m in messages(nb_catalog()):
        # nb has two forms: msgstr[0] (n == 1) goes with msgid, msgstr[1] with msgid_plural.
        sources = m.id if isinstance(m.id, tuple) else (m.id,)
        translations = m.string if isinstance(m.string, tuple) else (m.string,)
        if len(sources) != len(translations):
            wrong.append(f"{m.id!r}: {len(translations)} forms")
            continue
        for source, translation in zip(sources, translations, strict=True):
            if placeholders(source) != placeholders(translation):
                wrong.append(f"{source!r} -> {translation!r}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_catalogue_is_up_to_date_with_the_code(tmp_path):
    """Extracting again finds nothing the nb catalogue lacks, and nb has nothing the code lost.
    Fix: pybabel extract ... (see babel.cfg), pybabel update -i translations/messages.pot
    -d translations, translate, pybabel compile -d translations."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", *EXTRACT, "-o", str(pot), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    in_code = as_set(read_catalog(pot))
    assert len(in_code) > 100, "extraction found almost nothing: is babel.cfg right?"
    in_nb = as_set(nb_catalog())
    missing = in_code - in_nb
    assert not missing, f"in the code but not in {NB_PO} (run pybabel extract + update):\n{describe(missing)}"
    stale = in_nb - in_code
    assert not stale, f"in {NB_PO} but no longer in the code (run pybabel update):\n{describe(stale)}"


# --- what the app shows --------------------------------------------------------------------------


@pytest.fixture
def compiled():
    if not NB_MO.exists():
        pytest.fail(
            f"{NB_MO.relative_to(ROOT)} is missing, so every page falls back to English: "
            "run `pybabel compile -d translations` (scripts/env.sh does it for ./test.sh)",
            pytrace=False,
        )
    if NB_MO.stat().st_mtime < NB_PO.stat().st_mtime:
        pytest.fail(
            f"{NB_MO.relative_to(ROOT)} is older than its .po file: run `pybabel compile -d translations`",
            pytrace=False,
        )


@pytest.fixture
def demo(app):
    with app.app_context():
        seed_demo()
        db.session.commit()
        regular = db.session.scalar(
            sa.select(TicketType.id)
            .join(Event, TicketType.event_id == Event.id)
            .where(Event.slug == "esbf-2027", TicketType.position == 1)
        )
        db.session.remove()
    return {"regular": regular}


def page(client, url, lang):
    r = client.get(url, headers={"Accept-Language": lang})
    assert r.status_code == 200
    return r.get_data(as_text=True).replace("\xa0", " ")


def test_event_page_is_in_norwegian_for_nb(client, compiled, demo):
    html = page(client, "/events/esbf-2027", "nb-NO,nb;q=0.9,en;q=0.5")
    assert '<html lang="nb">' in html
    assert ">Billetter</h2>" in html
    assert "Gå videre til påmelding" in html
    assert "inkl. 25 % mva." in html  # the %% in the msgid comes out as one %
    assert "plasser igjen" in html  # ngettext
    assert "Continue to registration" not in html
    assert nb("Have a voucher code?") in html


def test_event_page_is_in_english_for_en(client, compiled, demo):
    html = page(client, "/events/esbf-2027", "en")
    assert '<html lang="en">' in html
    assert ">Tickets</h2>" in html
    assert "Continue to registration" in html
    assert "incl. 25 % VAT" in html
    assert "seats left" in html
    assert "Gå videre til påmelding" not in html


def test_lazy_form_labels_follow_the_language(client, compiled):
    assert f">{nb('Password')}</label>" in page(client, "/login", "nb")
    assert ">Password</label>" in page(client, "/login", "en")


def bad_order(demo) -> dict:
    return {
        "buyer": {"name": "Åse Ødegård", "email": "not-an-email", "language": "nb"},
        "attendees": [{"name": "Åse Ødegård", "email": "ase@example.org", "ticket_type_id": demo["regular"]}],
    }


def test_service_errors_come_out_in_norwegian_for_nb(client, compiled, demo):
    r = client.post(
        "/api/v1/events/esbf-2027/orders", json=bad_order(demo), headers={"Accept-Language": "nb"}
    )
    assert r.status_code == 422
    assert r.json["message"] == nb("Please correct the marked fields.")
    assert r.json["fields"]["buyer.email"] == [nb("Not a valid email address.")]
    assert nb("Not a valid email address.") != "Not a valid email address."


def test_service_errors_come_out_in_english_for_en(client, compiled, demo):
    r = client.post(
        "/api/v1/events/esbf-2027/orders", json=bad_order(demo), headers={"Accept-Language": "en"}
    )
    assert r.status_code == 422
    assert r.json["message"] == "Please correct the marked fields."
    assert r.json["fields"]["buyer.email"] == ["Not a valid email address."]
