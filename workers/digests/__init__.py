"""Scheduled channel digests: schedules, store, firing."""
