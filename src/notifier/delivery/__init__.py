"""Delivery edge: the SMTP connection pool, retries, and the ``reminders_sent`` ledger."""
