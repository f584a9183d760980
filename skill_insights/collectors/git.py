"""Git facts read straight from `.git` (no subprocess on the ingest path)."""

from __future__ import annotations

import re
from pathlib import Path

_SCP_LIKE = re.compile(r"^(?:[\w.\-]+@)?(?P<host>[\w.\-]+):(?P<path>[^/].*)$")


def normalize_remote(url: str) -> str | None:
    """`git@github.com:org/repo.git`, `https://user:tok@github.com/org/repo` → `github.com/org/repo`.

    Credentials embedded in an https URL are dropped, so a token never reaches the store.
    """
    u = url.strip()
    if not u:
        return None
    if "://" in u:
        rest = u.split("://", 1)[1]
        host_part, _, path = rest.partition("/")
        host = host_part.rsplit("@", 1)[-1].split(":", 1)[0]
    else:
        m = _SCP_LIKE.match(u)
        if not m:
            return None
        host, path = m.group("host"), m.group("path")
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    if not host or not path:
        return None
    return f"{host.lower()}/{path}"


def find_git_dir(start: Path, max_depth: int = 40) -> Path | None:
    """The `.git` directory of the repository holding `start` (worktree `.git` files followed)."""
    p = start
    for _ in range(max_depth):
        dotgit = p / ".git"
        if dotgit.is_dir():
            return dotgit
        if dotgit.is_file():
            try:
                text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                return None
            if text.startswith("gitdir:"):
                gd = Path(text[7:].strip())
                gd = gd if gd.is_absolute() else (p / gd)
                common = gd / "commondir"
                if common.is_file():
                    try:
                        c = Path(common.read_text().strip())
                        return c if c.is_absolute() else (gd / c).resolve()
                    except OSError:
                        return gd
                return gd
        if p.parent == p:
            return None
        p = p.parent
    return None


def remote_of(cwd: str | Path) -> str | None:
    """Normalised `origin` remote (else the first remote) of the repository at `cwd`, if any."""
    try:
        git_dir = find_git_dir(Path(cwd))
    except OSError:
        return None
    if git_dir is None:
        return None
    import configparser  # only for a cwd in a repository: capture imports this module

    cfg = configparser.RawConfigParser(strict=False)
    try:
        cfg.read(git_dir / "config", encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    remotes = [s for s in cfg.sections() if s.startswith('remote "')]
    remotes.sort(key=lambda s: s != 'remote "origin"')
    for section in remotes:
        url = cfg.get(section, "url", fallback=None)
        if url:
            norm = normalize_remote(url)
            if norm:
                return norm
    return None


def commits_between(cwd: str | Path, since: float, until: float, limit: int = 500) -> list[tuple[str, float, str]]:
    """[(sha, commit time, subject)] of the commits reachable from HEAD of the repository at `cwd` whose
    commit time lies in [since, until], oldest first; [] when there is no repository or git fails."""
    import os
    import subprocess

    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = subprocess.run(
            [
                "git",
                "-C",
                str(cwd),
                "log",
                f"--max-count={limit}",
                f"--since=@{int(since)}",
                f"--until=@{int(until) + 1}",
                "--format=%H%x1f%ct%x1f%s%x1e",
            ],
            capture_output=True,
            env=env,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    out: list[tuple[str, float, str]] = []
    for record in proc.stdout.decode("utf-8", "replace").split("\x1e"):
        parts = record.strip("\n").split("\x1f")
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        ts = float(parts[1])
        if since <= ts <= until:
            out.append((parts[0], ts, parts[2]))
    out.sort(key=lambda c: c[1])
    return out
