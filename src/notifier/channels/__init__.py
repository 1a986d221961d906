"""The ways a notification reaches a user: email, in-app rows and signed webhooks (section 9)."""
