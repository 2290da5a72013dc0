"""Test support: real local services (Dovecot, SMTP, Twilio stand-in, Redis) and mail data.

Everything here listens on 127.0.0.1 only and is started and stopped by the tests
themselves; nothing talks to the outside world.
"""
