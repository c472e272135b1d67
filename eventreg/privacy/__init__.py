"""Personal data (GDPR): what we hold about a person, erasing it on request, and the daily job
that erases it for the attendees of events whose retention period has run out."""
