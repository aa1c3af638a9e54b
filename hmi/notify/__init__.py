"""Alarm notifications: rules in the plant file, e-mail and signed webhooks, escalation, the delivery journal."""
