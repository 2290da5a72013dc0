"""Normalizers: raw channel input (RFC 5322 bytes, Twilio params) -> `InboundMessage`, pure."""
