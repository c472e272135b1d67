"""The card payment walked through in headless Chromium: the order page, Stripe's (fake) hosted
checkout, the return page, and the organiser's payments page. Screenshots go to test-artifacts/."""

import pytest
from playwright.sync_api import expect

from eventreg.core import clock
from eventreg.extensions import db
from eventreg.registration.services import create_order
from tests.factories import make_event, make_user, order_data
from tests.payments.conftest import WEBHOOK
from tests.stripe_fake import StripeFake
from tests.web.test_browser import ARTIFACTS


@pytest.mark.browser
def test_a_buyer_pays_by_card_and_the_organiser_sees_the_money(
    app, page, live_server, stripe_fake, monkeypatch
):
    monkeypatch.setitem(app.config, "PUBLIC_URL", live_server)  # Stripe sends the buyer back here
    stripe_fake.webhook_target = StripeFake.http_target(live_server + WEBHOOK)
    stripe_fake.auto_deliver = True
    with app.app_context():
        event = make_event(prices=(1250_00,), vat=25, venue="Oslo Kongressenter")
        make_user("olav@example.org", organiser_of=event)
        data = order_data(
            event, 2, payment_method="card", buyer_language="en", names=["Åse Ødegård", "محمد يونس"]
        )
        order = create_order(event, data, now=clock.now())
        invoiced = create_order(event, order_data(event, payment_method="invoice"), now=clock.now())
        db.session.commit()
        link, code = f"/orders/{order.code}/{order.manage_token}", order.code
        assert invoiced.status.value == "paid"
    ARTIFACTS.mkdir(exist_ok=True)

    def shot(name):
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)

    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(live_server + link)
    page.locator(".lang-switch button[lang=en]").click()
    shot("pay-order-en")
    page.get_by_role("button", name="Pay NOK2,500.00 by card").click()
    expect(page).to_have_url(f"{stripe_fake.base_url}/pay/" + next(iter(stripe_fake.sessions)))
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page.locator(".payment-state")).to_contain_text("Paid – thank you!")
    shot("pay-return-en")
    page.get_by_role("link", name="Go to your registration").click()
    expect(page.locator(".order-status")).to_contain_text("Paid and confirmed")
    expect(page.locator(".documents")).to_contain_text("Receipt 2")

    page.goto(f"{live_server}/login?next=/manage/events/forum/payments")
    page.get_by_label("Email").fill("olav@example.org")
    page.get_by_label("Password").fill("secret-pw-kaffe")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".money-paid")).to_have_text("NOK2,500.00")
    expect(page.locator(".money-unpaid")).to_have_text("NOK1,250.00")
    shot("payments-organiser-en")

    page.goto(f"{live_server}/manage/events/forum/orders/{code}/refund")
    page.get_by_label("Åse Ødegård", exact=False).uncheck()
    page.get_by_role("button", name="Refund the chosen tickets").click()
    expect(page.locator(".refunds")).to_contain_text("NOK1,250.00")
    expect(page.locator(".money-refunded")).to_have_text("NOK1,250.00")
    shot("payments-refunded-en")
    assert [r["amount"] for r in stripe_fake.refunds.values()] == [1250_00]
