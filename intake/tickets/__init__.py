"""Tickets: the database model, the store that writes it, and its migrations."""
