"""Who may use the API and the console: bearer tokens with scopes, the audit of private
reads, and the slow-down of clients that keep presenting bad tokens."""
