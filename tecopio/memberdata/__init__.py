"""Members' own data: preferences, purchase intents and feedback."""
