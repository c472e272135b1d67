"""Whether the public may register for an event right now, asked of the services' own rule."""

from eventreg.core.errors import Conflict, Forbidden
from eventreg.events.models import Event

# The rule lives in services._check_access (also used by create_order); pages ask it up front so
# they can show "members only" or "registered by the organisers" instead of a form.
from eventreg.registration.services import _check_access


def registration_refusal(event: Event, *, actor) -> Forbidden | Conflict | None:
    """The error create_order would raise for this actor before looking at the order, or None."""
    try:
        _check_access(event, actor=actor, on_behalf=False)
    except (Forbidden, Conflict) as err:
        return err
    return None
