"""`python -m skill_insights`: the CLI (the daemon is started this way, without the console-script wrapper)."""

from skill_insights.cli import cli

if __name__ == "__main__":
    cli(prog_name="skill-insights")
