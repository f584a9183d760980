"""Read one skill folder: its files (size, sha256), SKILL.md, and where its links point.

Runs in worker processes for big scans, so it takes and returns plain picklable values. The skill root is the
folder's real path; nothing outside it is ever opened — a symlink or link that leaves it becomes a finding.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from skill_insights.collectors.skills.skillmd import finding, parse_skill_md

SKILL_MD = "SKILL.md"
MAX_FILE_BYTES = 8 * 1024 * 1024  # larger supporting files are listed (size) but not hashed
MAX_SKILL_MD_BYTES = 1024 * 1024  # SKILL.md bodies past this are not parsed
MAX_FILES = 2000  # per skill; a skill folder holding a dataset is listed up to here
MAX_DEPTH = 8  # folder nesting inside a skill
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "build",
        "dist",
        "target",
        ".next",
        ".nuxt",
        ".gradle",
        ".terraform",
        "site-packages",
        ".eggs",
        "bower_components",
        ".cache",
        ".idea",
        ".DS_Store",
    }
)
_KIND_BY_TOP = {
    "scripts": "script",
    "script": "script",
    "bin": "script",
    "references": "reference",
    "reference": "reference",
    "docs": "reference",
    "assets": "asset",
    "templates": "asset",
    "examples": "asset",
}


def within(path: str, root: str) -> bool:
    """True when `path` is `root` or below it (both absolute and normalised)."""
    return path == root or path.startswith(root if root.endswith(os.sep) else root + os.sep)


def file_kind(rel: str) -> str:
    if rel == SKILL_MD:
        return "skill_md"
    top = rel.split("/", 1)[0]
    return _KIND_BY_TOP.get(top, "other") if "/" in rel else "other"


_O_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_FIRST = 32 * 1024  # below malloc's mmap threshold: a bigger first read costs an mmap per file
_CHUNK = 1024 * 1024


def is_utf8(name: str) -> bool:
    """Whether a name is UTF-8: one that is not comes from the OS with lone surrogates, which no JSON document
    can hold. ASCII, nearly every name, is answered without encoding."""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(name: str) -> str:
    """A name as the inventory can show it: bytes that are not UTF-8 as U+FFFD."""
    if is_utf8(name):
        return name
    try:
        return os.fsencode(name).decode("utf-8", "replace")
    except UnicodeEncodeError:  # lone surrogates that are not surrogate-escaped bytes
        return name.encode("utf-8", "replace").decode("utf-8")


def _read_rest(fd: int, first: bytes) -> bytes:
    """The rest of a file whose first read filled the buffer, up to one chunk past the size cap."""
    parts = [first]
    total = len(first)
    while total <= MAX_FILE_BYTES and (chunk := os.read(fd, _CHUNK)):
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)


def _read(fd: int) -> tuple[os.stat_result, bytes | None]:
    """(stat, content) of an open file; content None when it is (or grew) over the size cap."""
    st = os.fstat(fd)
    if st.st_size > MAX_FILE_BYTES:
        return st, None
    data = os.read(fd, _FIRST)
    if len(data) == _FIRST:  # a bigger file: read on, up to the cap
        data = _read_rest(fd, data)
        if len(data) > MAX_FILE_BYTES:  # it grew while we read
            return st, None
    return st, data


def _open_beneath(root_fd: int, rel: str) -> int:
    """Open `rel` below the skill root without following a symlink anywhere on the way: each folder is
    opened from the one above with O_NOFOLLOW, so a path that became a link since it was resolved fails
    (ELOOP, ENOTDIR) instead of leading out of the skill."""
    parts = rel.split(os.sep)
    fd = root_fd
    try:
        for part in parts[:-1]:
            below = os.open(part, _DIR_FLAGS, dir_fd=fd)
            if fd != root_fd:
                os.close(fd)
            fd = below
        return os.open(parts[-1], _O_FLAGS, dir_fd=fd)
    finally:
        if fd != root_fd:
            os.close(fd)


def _folders(
    root_fd: int, root: str, top: list[tuple[str, bool, bool]] | None, findings: list[dict[str, Any]], nested: list[str]
) -> Iterator[tuple[int, str, str, list[tuple[str, bool]]]]:
    """(folder fd, abs folder, rel posix prefix, [(file name, is_link)]) of every folder holding files of the
    skill, by the walk rules; the same for a full read and for a re-scan signature, so both see the same files
    in the same order. One item per folder rather than per file: the per-file loops stay in the callers.

    Each folder is opened from its parent's descriptor with O_NOFOLLOW and listed through it, and its files
    are to be opened relative to the fd given (valid until the next item): a folder swapped for a symlink
    after it was listed (even after discovery listed the root) is refused, never walked into."""
    stopped = False
    count = 0
    sep = os.sep

    def visit(
        dfd: int, d: str, rel: str, depth: int, listing: list[tuple[str, bool, bool]] | None
    ) -> Iterator[tuple[int, str, str, list[tuple[str, bool]]]]:
        nonlocal stopped, count
        if listing is None:
            try:
                with os.scandir(dfd) as it:
                    listing = [(e.name, e.is_dir(follow_symlinks=False), e.is_symlink()) for e in it]
            except OSError as e:
                findings.append(finding("unreadable_dir", f"cannot list: {e.strerror or e}", "warning", rel or "."))
                return
        if depth > 0 and any(n == SKILL_MD and not isd for n, isd, _ in listing):
            nested.append(d)  # a skill inside a skill is its own skill, not supporting files
            return
        files: list[tuple[str, bool]] = []
        folders: list[str] = []
        for name, is_dir, is_link in listing:
            if not is_utf8(name):
                findings.append(
                    finding("name_not_utf8", "a name that is not UTF-8: not listed", "warning", f"{rel}{shown(name)}")
                )
                continue
            if is_dir and not is_link:
                if name in SKIP_DIRS:
                    continue
                if depth + 1 > MAX_DEPTH:
                    findings.append(
                        finding(
                            "depth_limit", f"folder deeper than {MAX_DEPTH} levels not listed", "info", f"{rel}{name}"
                        )
                    )
                    continue
                folders.append(name)
                continue
            files.append((name, is_link))
        count += len(files)
        if count > MAX_FILES:
            del files[len(files) - (count - MAX_FILES) :]
            if files:
                yield dfd, d, rel, files
            findings.append(
                finding("too_many_files", f"more than {MAX_FILES} files: the rest are not listed", "warning")
            )
            stopped = True
            return
        if files:
            yield dfd, d, rel, files
        for name in reversed(folders):  # the order of a stack: last listed first
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            except OSError as e:  # gone, or swapped for a link since it was listed
                findings.append(finding("unreadable_dir", f"cannot list: {e.strerror or e}", "warning", f"{rel}{name}"))
                continue
            try:
                yield from visit(sub, f"{d}{sep}{name}", f"{rel}{name}/", depth + 1, None)
            finally:
                os.close(sub)
            if stopped:
                return

    yield from visit(root_fd, root, "", 0, top)


def _open_root(root: str, findings: list[dict[str, Any]] | None) -> int | None:
    try:
        return os.open(root, _DIR_FLAGS)
    except OSError as e:
        if findings is not None:
            findings.append(finding("unreadable_dir", f"cannot list: {e.strerror or e}", "warning", "."))
        return None


def _stamp(rel: str, st: os.stat_result) -> str:
    """One file's signature line: its path, inode, size and mtime."""
    return f"{rel}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\n"


def signature(root: str, top: list[tuple[str, bool, bool]] | None = None) -> str:
    """A digest of every file's (path, inode, size, mtime): equal digests → the cached result still holds.
    One lstat per file instead of open/read/close: what makes a re-scan cheap."""
    lines: list[str] = []
    stat = os.stat
    root_fd = _open_root(root, None)
    if root_fd is not None:
        try:
            for dfd, d, rel, files in _folders(root_fd, root, top, [], []):
                for name, is_link in files:
                    if is_link:
                        line = _link_stamp(dfd, d, name, rel + name, root)
                        if line is not None:
                            lines.append(line)
                        continue
                    try:
                        st = stat(name, dir_fd=dfd, follow_symlinks=False)
                    except OSError:
                        continue
                    lines.append(_stamp(rel + name, st))
        finally:
            os.close(root_fd)
    return hashlib.blake2b("".join(lines).encode(), digest_size=16).hexdigest()


def _link_stamp(dfd: int, d: str, name: str, rel: str, root: str) -> str | None:
    """A symlink's signature line: the link, and its target when that is inside the skill (its content is
    hashed as the link's), which may sit in a folder the walk skips (`node_modules/`) and so on no other line.
    A target outside the skill is never looked at."""
    own = _link_own(dfd, name, rel)
    if own is None:
        return None
    real = os.path.realpath(f"{d}{os.sep}{name}")
    if within(real, root):
        with contextlib.suppress(OSError):
            return own + _stamp("", os.stat(real))  # the target's fields on the same line
    return own + "\n"


def _link_own(dfd: int, name: str, rel: str) -> str | None:
    """The link's own fields of its signature line (no line end); None when it is gone."""
    try:
        return _stamp(rel, os.stat(name, dir_fd=dfd, follow_symlinks=False))[:-1]
    except OSError:
        return None


def process_skill(
    root: str, top_names: list[tuple[str, bool, bool]] | None = None, cached: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything the inventory needs from one skill folder. `root` must be a real (resolved) path.

    `top_names` is the root's listing [(name, is_dir, is_symlink)] when the caller already has it; `cached` a
    previous result (with its `sig`), returned as is when no file changed.
    """
    if cached is not None and cached.get("sig") and signature(root, top_names) == cached["sig"]:
        return cached
    files: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    nested: list[str] = []
    skill_md: bytes | None = None
    skill_md_error: str | None = None
    stamps: list[str] = []  # the signature's lines, in `signature`'s order
    sha256 = hashlib.sha256
    os_open, os_fstat, os_read, os_close = os.open, os.fstat, os.read, os.close
    root_fd = _open_root(root, findings)
    try:
        for dfd, d, rel, names in _folders(root_fd, root, top_names, findings, nested) if root_fd is not None else ():
            top = rel.split("/", 1)[0] if rel else ""
            kind = _KIND_BY_TOP.get(top, "other") if top else "other"
            for name, is_link in names:
                r = rel + name
                if is_link:
                    assert root_fd is not None  # _folders yields nothing without it
                    line, data = _link(dfd, d, name, r, root, root_fd, files, findings)
                    if line is not None:
                        stamps.append(line)
                    if not rel and name == SKILL_MD and data is not None:
                        skill_md = data  # SKILL.md linked to a file inside the skill: that file is it
                    continue
                # Raw os.open/os.read: a buffered `open()` costs several times more per small file, and most
                # skill files are small. Relative to the folder's fd with O_NOFOLLOW: a file swapped for a
                # symlink since the listing is refused, not followed; O_NONBLOCK: a FIFO can't hang the scan.
                try:
                    fd = os_open(name, _O_FLAGS, dir_fd=dfd)
                    try:
                        st = os_fstat(fd)
                        data = None
                        if st.st_size <= MAX_FILE_BYTES:
                            data = os_read(fd, _FIRST)
                            if len(data) == _FIRST:
                                data = _read_rest(fd, data)
                    finally:
                        os_close(fd)
                except OSError as e:
                    findings.append(finding("unreadable_file", f"cannot read: {e.strerror or e}", "warning", r))
                    continue
                stamps.append(_stamp(r, st))
                if data is not None and len(data) <= MAX_FILE_BYTES:
                    size = len(data)
                    sha: str | None = sha256(data).hexdigest()
                else:  # too large (or it grew past the cap while we read)
                    size = st.st_size if data is None else len(data)
                    sha = data = None
                    findings.append(finding("file_too_large", f"{size} bytes: listed, not hashed", "info", r))
                if not rel and name == SKILL_MD:
                    files.append({"path": r, "size": size, "sha256": sha, "kind": "skill_md", "is_link": False})
                    skill_md = data
                    if data is None:
                        skill_md_error = "too_large"
                else:
                    files.append({"path": r, "size": size, "sha256": sha, "kind": kind, "is_link": False})
    finally:
        if root_fd is not None:
            os_close(root_fd)
    sig = hashlib.blake2b("".join(stamps).encode(), digest_size=16)

    doc: dict[str, Any] = {"realpath": root, "nested": nested, "sig": sig.hexdigest()}
    if skill_md is None or len(skill_md) > MAX_SKILL_MD_BYTES:
        if skill_md_error or skill_md is not None:
            findings.append(
                finding(
                    "skill_md_too_large", f"SKILL.md over {MAX_SKILL_MD_BYTES} bytes: not parsed", "error", SKILL_MD
                )
            )
        elif not any(f["path"] == SKILL_MD for f in files):
            findings.append(finding("skill_md_unreadable", "SKILL.md could not be read", "error", SKILL_MD))
        text = ""
    else:
        text = skill_md.decode("utf-8", "replace")
    parsed = parse_skill_md(text) if text else None
    links: list[dict[str, Any]] = []
    if parsed is not None:
        findings.extend(parsed.findings)
        by_rel = {f["path"]: f for f in files}
        for ref in parsed.refs:
            links.append(_resolve_ref(ref.target, ref.kind, ref.line, root, by_rel, findings))
    files.sort(key=itemgetter("path"))
    # Outside links carry no content of ours: their target string still distinguishes two copies.
    h = hashlib.sha256(
        "".join([f"{f['path']}\0{f['sha256'] or f.get('link_target') or f['size']}\n" for f in files]).encode()
    )
    doc.update(
        content_hash=h.hexdigest(),
        files=files,
        findings=findings,
        frontmatter=parsed.frontmatter if parsed else None,
        name=parsed.name if parsed else None,
        description=parsed.description if parsed else None,
        extra_fields=parsed.extra_fields if parsed else [],
        body_lines=parsed.body_lines if parsed else 0,
        approx_tokens=parsed.approx_tokens if parsed else 0,
        links=links,
    )
    return doc


def _unread_link(r: str, raw_target: str, outside: bool) -> dict[str, Any]:
    """The file entry of a link that is not read: broken, looping, or leading out of the skill."""
    return {
        "path": r,
        "size": 0,
        "sha256": None,
        "kind": file_kind(r),
        "is_link": True,
        "link_target": raw_target,
        "outside": outside,
    }


def _link(
    dfd: int,
    d: str,
    name: str,
    r: str,
    root: str,
    root_fd: int,
    files: list[dict[str, Any]],
    findings: list[dict[str, Any]],
) -> tuple[str | None, bytes | None]:
    """A symlink inside the skill: its target is read only when it resolves inside the root, to a file, and
    is opened from the root without following any link on the way. (its signature line, the content read)
    — the line built from the very file hashed, so a target changed meanwhile is read again next time."""
    try:
        raw_target = shown(os.readlink(name, dir_fd=dfd))
    except OSError:
        raw_target = ""
    p = f"{d}{os.sep}{name}"
    try:
        target = os.path.realpath(p, strict=True)
    except (OSError, ValueError) as e:
        code = "symlink_loop" if "loop" in str(e).lower() or getattr(e, "errno", 0) == 40 else "symlink_broken"
        findings.append(finding(code, f"symlink to {raw_target!r} does not resolve", "warning", r))
        files.append(_unread_link(r, raw_target, outside=False))
        return _link_stamp(dfd, d, name, r, root), None
    if not within(target, root):
        findings.append(
            finding("symlink_outside", f"symlink points outside the skill ({raw_target}): not read", "warning", r)
        )
        files.append(_unread_link(r, raw_target, outside=True))
        return _link_stamp(dfd, d, name, r, root), None
    if os.path.isdir(target) or len(files) >= MAX_FILES:
        # A folder link inside the skill: its files are listed at their real place (no loops).
        return _link_stamp(dfd, d, name, r, root), None
    own = _link_own(dfd, name, r)
    try:
        fd = _open_beneath(root_fd, target[len(root) + 1 :])
        try:
            st, data = _read(fd)
        finally:
            os.close(fd)
    except OSError:
        return None, None  # changed since it was resolved: no line, so the next scan reads it again
    files.append(
        {
            "path": r,
            "size": st.st_size if data is None else len(data),
            "sha256": None if data is None else hashlib.sha256(data).hexdigest(),
            "kind": file_kind(r),
            "is_link": True,
            "link_target": raw_target,
            "outside": False,
        }
    )
    return (None if own is None else own + _stamp("", st)), data


def _resolve_ref(
    target: str, kind: str, line: int, root: str, by_rel: dict[str, dict[str, Any]], findings: list[dict[str, Any]]
) -> dict[str, Any]:
    link: dict[str, Any] = {"target": target, "kind": kind, "line": line, "path": None, "status": "ok"}
    sev = "warning" if kind == "link" else "info"
    if target.startswith(("/", "~", "\\")) or (len(target) > 2 and target[1] == ":" and target[2] in "\\/"):
        link["status"] = "absolute"
        findings.append(finding("link_absolute", f"{kind} to an absolute path {target!r}: not read", sev))
        return link
    # `references\api.md` is written for Windows: the file it names is references/api.md.
    norm = os.path.normpath(os.path.join(root, target.replace("\\", "/")))
    if not within(norm, root):
        link["status"] = "escapes"
        findings.append(finding("link_escapes_root", f"{kind} {target!r} leaves the skill folder: not read", "warning"))
        return link
    rel = norm[len(root) + 1 :].replace(os.sep, "/") if norm != root else "."
    link["path"] = rel
    f = by_rel.get(rel)
    if f is not None:
        if f.get("outside"):
            link["status"] = "symlink_outside"
        else:
            f["linked"] = True
        return link
    # Not a listed file: a folder, a skipped place, or missing. Check where it really is, without reading.
    if not os.path.lexists(norm):
        link["status"] = "missing"
        return link
    try:
        real = os.path.realpath(norm, strict=True)
    except OSError:
        link["status"] = "missing"
        return link
    if not within(real, root):
        link["status"] = "symlink_outside"
        findings.append(
            finding("symlink_outside", f"{kind} {target!r} resolves outside the skill: not read", "warning")
        )
    elif os.path.isdir(real):
        link["status"] = "dir"
    return link
