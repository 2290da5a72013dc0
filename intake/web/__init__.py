"""The web side of intake: Twilio webhooks, health and metrics (`create_app`)."""
