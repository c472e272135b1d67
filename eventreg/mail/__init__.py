"""Mail: an outbox table written in the same transaction as the change that causes a message,
and a worker that composes and delivers what is due (SMTP, or .eml files in the embedded default)."""
