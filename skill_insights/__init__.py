"""skill-insights: local-first usage, cost and skills insights for coding agents."""

__version__ = "0.1.0"
