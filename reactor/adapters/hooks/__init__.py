"""Hook transports: webhooks and commands."""
