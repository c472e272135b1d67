"""What a scan's result and reason codes mean, in words: shown by the scanner and, for
conflicts, on the organiser's check-in page."""

from flask_babel import lazy_gettext as _l

RESULTS = {
    "ok": _l("Admitted"),
    "already_redeemed": _l("Already checked in"),
    "not_admitted": _l("Not valid here"),
    "unpaid": _l("Not paid"),
    "cancelled": _l("Cancelled or refunded"),
    "invalid": _l("Invalid ticket"),
}
REASONS = {
    "malformed": _l("This is not a ticket of ours."),
    "bad_signature": _l("Forged or damaged QR code."),
    "unknown_key": _l("Signed with a key this event does not know."),
    "other_event": _l("This ticket is for another event."),
    "revoked": _l("Replaced: the ticket was transferred or reissued; the old QR code no longer counts."),
    "not_in_list": _l("Genuine ticket, not yet in this scanner's list."),
    "unknown": _l("Unknown attendee."),
    "ticket_type": _l("This list does not admit this ticket type."),
    "workshop": _l("Not registered for this workshop."),
    "not_open": _l("This list is not open yet."),
    "closed": _l("This list is closed."),
    "earlier_scan": _l("Another gate had admitted this ticket first."),
    "pending": _l("The payment was never completed."),
    "invoice": _l("The invoice has not been paid."),
}
