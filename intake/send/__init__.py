"""Send: delivery of outbox rows: claim, transmit through a channel, record."""
