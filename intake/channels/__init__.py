"""Adapters that talk to the outside: IMAP, SMTP, Twilio. The only network code of intake."""
