"""Run notifications: one EventBridge event and one SNS message per finished run."""
