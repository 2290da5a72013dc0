"""Upkeep: the periodic work that keeps the flow whole: sweeper, voicemail timeouts,
health, key rotation."""
