"""Outbox: the follow-ups a ticket change causes (acknowledgements, agent replies, status
notices), composed from templates and written as rows in the same transaction."""
