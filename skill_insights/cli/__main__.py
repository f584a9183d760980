"""`python -m skill_insights.cli`: the same commands as `python -m skill_insights`."""

from skill_insights.cli import cli

if __name__ == "__main__":
    cli()
