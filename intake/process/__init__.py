"""Process: the pipeline that turns one captured input into a ticket message and the
follow-ups it causes, with an explicit handler per channel."""
