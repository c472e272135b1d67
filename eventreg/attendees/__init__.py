"""The organiser's attendee pages: find and filter attendees, open an order and change it, and
email all or some attendees in their own language (mailings through the outbox)."""
