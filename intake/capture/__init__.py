"""Capture: IMAP poller and lease, Twilio capture, inbox writes, reconcile. Stores raw input
and returns the ids to process; never parses, classifies or replies (STYLE 1)."""
