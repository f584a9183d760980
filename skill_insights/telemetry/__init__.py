"""Opt-in agent signals to PostHog and the org-wide view fetched back with HogQL. Not built yet."""
