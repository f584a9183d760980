"""A small GitHub REST client over httpx: token from the environment or `gh`, pagination by Link headers,
rate limits waited out within a bound, one-line errors. The token is sent, never logged or echoed."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

DEFAULT_API_URL = "https://api.github.com"
# Longest wait for a rate limit to reset before giving up with an error instead.
DEFAULT_MAX_WAIT = 90.0
MAX_ATTEMPTS = 4
MAX_PAGES = 100


class GitHubError(RuntimeError):
    """A failed GitHub call, as one line (method, path, status, GitHub's message)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def api_url() -> str:
    return (os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")


def resolve_token(base_url: str | None = None) -> str | None:
    """`GITHUB_TOKEN`, else what `gh auth token` prints (for the API's host when it is not github.com)."""
    token = os.environ.get("GITHUB_TOKEN", "").strip()
    if token:
        return token
    cmd = ["gh", "auth", "token"]
    host = urlsplit(base_url or api_url()).hostname or ""
    if host and host not in ("api.github.com", "github.com"):
        cmd += ["--hostname", host]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, timeout=10, check=False, env={**os.environ, "GH_PROMPT_DISABLED": "1"}
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    token = proc.stdout.decode("utf-8", "replace").strip() if proc.returncode == 0 else ""
    return token or None


def _next_link(header: str | None) -> str | None:
    """The `rel="next"` URL of a Link header."""
    if not header:
        return None
    for part in header.split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return url.strip().strip("<>")
    return None


class GitHub:
    def __init__(
        self,
        token: str | None,
        base_url: str | None = None,
        timeout: float = 20.0,
        max_wait: float = DEFAULT_MAX_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = (base_url or api_url()).rstrip("/")
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "skill-insights",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), follow_redirects=True
        )
        self.max_wait = max_wait
        self._sleep = sleep
        self._log = log or (lambda _msg: None)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def _wait_for(self, r: httpx.Response) -> float | None:
        """Seconds to wait before retrying a rate-limited answer; None when it is not a rate limit."""
        if r.status_code not in (403, 429):
            return None
        retry_after = r.headers.get("retry-after")
        if retry_after:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                return 60.0
        if r.headers.get("x-ratelimit-remaining") == "0":
            try:
                return max(0.0, float(r.headers.get("x-ratelimit-reset", "0")) - time.time()) + 0.5
            except ValueError:
                return 60.0
        # A secondary limit may come without headers; GitHub asks for at least a minute's pause then.
        if r.status_code == 429 or "secondary rate limit" in r.text.lower():
            return 60.0
        return None

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self._url(path)
        shown = urlsplit(url).path
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                r = self._http.request(method, url, **kwargs)
            except httpx.TimeoutException:
                raise GitHubError(f"GitHub API {method} {shown}: timed out") from None
            except httpx.HTTPError as e:
                raise GitHubError(f"GitHub API {method} {shown}: {type(e).__name__}: {e}") from None
            wait = self._wait_for(r)
            if wait is not None and attempt < MAX_ATTEMPTS:
                if wait > self.max_wait:
                    raise GitHubError(
                        f"GitHub API {method} {shown}: rate limited for {wait:.0f}s more "
                        f"(over the {self.max_wait:.0f}s this command waits); try again later"
                    )
                self._log(f"GitHub rate limit on {method} {shown}: waiting {wait:.1f}s")
                self._sleep(wait)
                continue
            if r.status_code in (502, 503, 504) and attempt < MAX_ATTEMPTS:
                self._sleep(min(2.0**attempt, 10.0))
                continue
            if r.status_code >= 400:
                raise GitHubError(f"GitHub API {method} {shown}: {r.status_code} {_message(r)}", r.status_code)
            return r
        raise GitHubError(f"GitHub API {method} {shown}: still failing after {MAX_ATTEMPTS} attempts")

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return _json(self.request("GET", path, params=params), path)

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, following `Link: <…>; rel="next"`."""
        url: str | None = path
        query: dict[str, Any] | None = {"per_page": 100, **(params or {})}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            r = self.request("GET", url, params=query)
            page = _json(r, path)
            if isinstance(page, dict) and isinstance(page.get("items"), list):
                page = page["items"]
            if not isinstance(page, list):
                raise GitHubError(f"GitHub API GET {urlsplit(self._url(path)).path}: expected a list")
            yield from page
            url, query = _next_link(r.headers.get("link")), None  # the next URL carries its own query
        raise GitHubError(f"GitHub API GET {path}: more than {MAX_PAGES} pages")

    # -- the calls this package makes ---------------------------------------------------------------------

    def issue_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return list(self.paginate(f"repos/{repo}/issues/{number}/comments"))

    def create_comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        return _json(self.request("POST", f"repos/{repo}/issues/{number}/comments", json={"body": body}), "comment")

    def update_comment(self, repo: str, comment_id: int, body: str) -> dict[str, Any]:
        return _json(
            self.request("PATCH", f"repos/{repo}/issues/comments/{comment_id}", json={"body": body}), "comment"
        )

    def issue(self, repo: str, number: int) -> dict[str, Any] | None:
        """An issue or pull request by number (the issues endpoint answers both); None when there is none."""
        try:
            return self.get(f"repos/{repo}/issues/{number}")
        except GitHubError as e:
            if e.status in (404, 410):
                return None
            raise

    def pull(self, repo: str, number: int) -> dict[str, Any]:
        return self.get(f"repos/{repo}/pulls/{number}")

    def open_pulls_for_branch(self, repo: str, owner: str, branch: str) -> list[dict[str, Any]]:
        return list(self.paginate(f"repos/{repo}/pulls", {"state": "open", "head": f"{owner}:{branch}"}))


def _json(r: httpx.Response, what: str) -> Any:
    try:
        return r.json()
    except ValueError:
        raise GitHubError(f"GitHub API {what}: the answer is not JSON") from None


def _message(r: httpx.Response) -> str:
    try:
        doc = r.json()
    except ValueError:
        return r.reason_phrase or "error"
    msg = doc.get("message") if isinstance(doc, dict) else None
    return " ".join(str(msg).split())[:200] if msg else (r.reason_phrase or "error")


def check_repo(repo: str) -> str:
    """`OWNER/NAME`, checked: two path-safe parts."""
    parts = repo.strip().split("/")
    ok = len(parts) == 2 and all(
        p and p not in (".", "..") and all(c.isalnum() or c in "-_." for c in p) for p in parts
    )
    if not ok:
        raise ValueError(f"--repo must be OWNER/NAME, not {repo!r}")
    return "/".join(parts)


def from_env(log: Callable[[str], None] | None = None) -> GitHub:
    """A client for `GITHUB_API_URL` with the token of `resolve_token`; GitHubError when there is none."""
    base = api_url()
    token = resolve_token(base)
    if not token:
        raise GitHubError("no GitHub token: set GITHUB_TOKEN or run `gh auth login`")
    return GitHub(token, base, log=log)
