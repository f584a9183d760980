"""Session reports on GitHub PRs and issues (per-session stats, cost, workflow diagrams). Not built yet."""
