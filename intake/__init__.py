"""intake: email and phone intake processor for support desks."""

__version__ = "0.1.0"
