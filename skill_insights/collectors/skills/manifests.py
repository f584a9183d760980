"""The manifests the skills scan reads, as pydantic models: Tessl's `tessl.json`, `tile.json` and
`.tessl-plugin/plugin.json`, Claude Code's `.claude-plugin/plugin.json`, `.claude-plugin/marketplace.json` and
`installed_plugins.json`, and the `mcpServers` of `.mcp.json` and `~/.claude.json`. Each shape is written once,
here; the JSON Schemas shipped as `skill_insights/schemas/manifest_*.schema.json` are generated from it:

    python -m skill_insights.collectors.skills.manifests

Nothing read is trusted, and one bad value never costs the whole manifest: `checked` validates, names each
value that does not fit in a problem (by its place and JSON type, never its content), drops it and validates
what is left, so the wrong type reads as absent. Values are strict (no "1" for 1, no 0 for false); keys not
named here are not read, so an MCP server's `env` and `headers` never are.

Imported only when a manifest is met: a scan of a tree without one never loads pydantic.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, NamedTuple, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Tag,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from skill_insights.collectors.skills.jsonfile import json_type

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"

Loc = tuple[str | int, ...]

# The tags of values that may be one of several JSON kinds; pydantic puts them in an error's location, where
# `where` (below) reads them and leaves them out of the place in the document.
OBJECT, STRING, LIST = "(object)", "(string)", "(list)"
WRONG_KIND = "manifest_kind"


def _json_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        return OBJECT
    if isinstance(v, str):
        return STRING
    return LIST if isinstance(v, list) else None


def _one_of(expected: str) -> Discriminator:
    """Picks the member of a union by the value's JSON kind; any other kind is one problem: not `expected`."""
    return Discriminator(_json_kind, custom_error_type=WRONG_KIND, custom_error_message=expected)


def _no_nul(v: str) -> str:
    if "\0" in v:
        raise PydanticCustomError("nul_byte", "holds a NUL byte")
    return v


def _usable_path(v: str) -> str:
    """What os.path.realpath refuses without touching the disk: a NUL byte, or text the OS can't encode."""
    try:
        if "\0" not in v:
            os.fsencode(v)
            return v
    except UnicodeError:
        pass
    raise PydanticCustomError("unusable_path", "is not a usable path")


_PATH_SCHEMA = {"type": "string", "pattern": "^[^\\u0000]*$"}
# A path: no NUL byte, which no path can hold.
PathText = Annotated[str, AfterValidator(_no_nul), WithJsonSchema(_PATH_SCHEMA)]
# Text that is ignored, not a problem, when it is not a string.
LenientText = Annotated[str | None, BeforeValidator(lambda v: v if isinstance(v, str) else None)]


class _Read(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", defer_build=True)  # built when first used

    @classmethod
    def where(cls, loc: Loc) -> tuple[str, Loc]:
        """How a problem names the place `loc` of a validation error, and that place in the document."""
        return ".".join(str(p) for p in loc), loc


class _Manifest(_Read):
    name: str | None = None
    version: str | None = None


# -- Tessl -----------------------------------------------------------------------------------------------


class TesslDependency(_Read):
    version: str | None = None


class TesslJson(_Manifest):
    """`tessl.json`: a project's tiles; a dependency is `{"version": ...}` or the version alone."""

    mode: str | None = None
    dependencies: (
        dict[
            str,
            Annotated[
                Annotated[TesslDependency, Tag(OBJECT)] | Annotated[str, Tag(STRING)],
                _one_of("an object or a string"),
            ]
            | None,
        ]
        | None
    ) = None

    @classmethod
    def where(cls, loc: Loc) -> tuple[str, Loc]:
        match loc:
            case ("dependencies", str()):
                return "a dependencies entry", loc
            case ("dependencies", str(dep), "(object)", str(field)):
                return f"dependencies entry {field}", ("dependencies", dep, field)
        return super().where(loc)


class TileSkill(_Read):
    path: PathText | None = None


class Tile(_Manifest):
    """`tile.json` and `.tessl-plugin/plugin.json`: `skills` maps names to paths, or lists paths (plugin style)."""

    summary: str | None = None
    description: str | None = None
    skills: (
        Annotated[
            Annotated[
                dict[
                    str,
                    Annotated[
                        Annotated[TileSkill, Tag(OBJECT)] | Annotated[PathText, Tag(STRING)],
                        _one_of("an object or a string"),
                    ]
                    | None,
                ],
                Tag(OBJECT),
            ]
            | Annotated[list[PathText | None], Tag(LIST)],
            _one_of("an object or a list"),
        ]
        | None
    ) = None
    docs: str | None = None
    steering: dict[str, Any] | None = None
    private: bool | None = None

    @classmethod
    def where(cls, loc: Loc) -> tuple[str, Loc]:
        match loc:
            case ("skills", "(object)", str(name)) | ("skills", "(object)", str(name), "(string)"):
                return "a skills entry", ("skills", name)
            case ("skills", "(object)", str(name), "(object)", str(field)):
                return f"skills entry {field}", ("skills", name, field)
            case ("skills", "(list)", int(i)):
                return f"skills[{i}]", ("skills", i)
        return super().where(loc)


# -- Claude Code -------------------------------------------------------------------------------------------


class ClaudePlugin(_Manifest):
    """`.claude-plugin/plugin.json`."""

    description: str | None = None


class MarketplacePlugin(_Read):
    name: str | None = None
    # A path from the marketplace's folder, or an object: a remote source (github, url), nothing on disk.
    source: (
        Annotated[
            Annotated[PathText, Tag(STRING)] | Annotated[dict[str, Any], Tag(OBJECT)],
            _one_of("a string or an object"),
        ]
        | None
    ) = None
    version: str | None = None
    # Claude Code takes `"skills": "./extra/"` as well as a list.
    skills: (
        Annotated[
            Annotated[PathText, Tag(STRING)] | Annotated[list[PathText | None], Tag(LIST)],
            _one_of("a list"),
        ]
        | None
    ) = None


class ClaudeMarketplace(_Manifest):
    """`.claude-plugin/marketplace.json`."""

    plugins: list[MarketplacePlugin] | None = None

    @classmethod
    def where(cls, loc: Loc) -> tuple[str, Loc]:
        match loc:
            case ("plugins", int(i)):
                return f"plugins[{i}]", loc
            case ("plugins", int(i), "skills", "(string)"):
                return f"plugins[{i}].skills[0]", ("plugins", i, "skills")
            case ("plugins", int(i), "skills", "(list)", int(j)):
                return f"plugins[{i}].skills[{j}]", ("plugins", i, "skills", j)
            case ("plugins", int(i), str(field), *_):
                return f"plugins[{i}].{field}", ("plugins", i, field)
        return super().where(loc)


class InstallRecord(_Read):
    installPath: Annotated[str, AfterValidator(_usable_path), WithJsonSchema(_PATH_SCHEMA)] | None = None
    version: str | None = None
    scope: str | None = None
    lastUpdated: str | None = None


class InstalledPlugins(_Read):
    """`~/.claude/plugins/installed_plugins.json`: v1 `{key: {...}}`, v2 `{key: [{...}]}`."""

    plugins: (
        dict[
            str,
            Annotated[
                Annotated[InstallRecord, Tag(OBJECT)] | Annotated[list[InstallRecord], Tag(LIST)],
                _one_of("an object or a list"),
            ],
        ]
        | None
    ) = None

    @classmethod
    def where(cls, loc: Loc) -> tuple[str, Loc]:
        match loc:
            case ("plugins", str()):
                return "a plugin entry", loc
            case ("plugins", str(key), "(list)", int(j)):
                return "an install record", ("plugins", key, j)
            case ("plugins", str(key), "(object)", str(field)):
                return _a(field), ("plugins", key, field)
            case ("plugins", str(key), "(list)", int(j), str(field)):
                return _a(field), ("plugins", key, j, field)
        return super().where(loc)


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


class McpServer(_Read):
    """One `mcpServers` entry: only where the server lives is read; `env`, `headers` and `args` (where servers
    keep their secrets) are not fields, so never read."""

    type: LenientText = None
    command: LenientText = None
    url: LenientText = None


class McpJson(_Read):
    """`.mcp.json` (a plugin's may be the servers alone), and the `mcpServers` of `~/.claude.json`."""

    mcpServers: dict[str, McpServer] | None = None

    @classmethod
    def where(cls, loc: Loc) -> tuple[str, Loc]:
        match loc:
            case ("mcpServers", str(name)):
                return f"server {name!r}", loc
        return super().where(loc)


# -- validation --------------------------------------------------------------------------------------------


class Problem(NamedTuple):
    place: Loc  # in the document
    text: str
    to_null: bool = False  # a string that can't be used where it stands reads as null; any other value is removed


_EXPECTED = {
    "string_type": "a string",
    "bool_type": "a boolean",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _problem(model: type[_Read], err: ErrorDetails) -> Problem:
    label, place = model.where(tuple(err["loc"]))
    kind = err["type"]
    if kind in ("nul_byte", "unusable_path"):
        return Problem(place, f"{label} {err['msg']}", to_null=True)
    expected = err["msg"] if kind == WRONG_KIND else _EXPECTED.get(kind, "of another type")
    return Problem(place, f"{label} is {json_type(err['input'])}, not {expected}")


M = TypeVar("M", bound=_Read)
_DROPPED, _MISSING = object(), object()


def checked(model: type[M], data: dict[str, Any]) -> tuple[M, list[Problem]]:
    """`data` as `model`, with each value that does not fit named in a problem and removed from `data` (which is
    changed in place), in document order."""
    problems: list[Problem] = []
    for _ in range(_MAX_PASSES):
        try:
            return model.model_validate(data), problems
        except ValidationError as e:
            found = [_problem(model, err) for err in e.errors()]
        problems += found
        _drop(data, found)
    return model(), problems  # a value that kept failing however much was dropped: read nothing


_MAX_PASSES = 8  # one drops what does not fit; the next finds the rest well-typed


def _drop(data: dict[str, Any], problems: list[Problem]) -> None:
    """Remove (or null) the values at the problems' places; a place that does not resolve: its top-level key."""
    containers: list[Any] = []
    for problem in problems:
        parent: Any = data
        place = problem.place
        for part in place[:-1]:
            parent = _child(parent, part)
        if not place or _child(parent, place[-1]) is _MISSING:
            parent, place = data, place[:1]
        value = _child(parent, place[-1]) if place else _MISSING
        if value is _MISSING or value is _DROPPED:
            continue
        if problem.to_null and place == problem.place:
            parent[place[-1]] = None
        else:
            parent[place[-1]] = _DROPPED
            containers.append(parent)
    for node in containers:
        if isinstance(node, dict):
            for k in [k for k, v in node.items() if v is _DROPPED]:
                del node[k]
        elif isinstance(node, list):
            node[:] = [v for v in node if v is not _DROPPED]


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict) and isinstance(part, str) and part in node:
        return node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _MISSING


# -- the inventory's records -------------------------------------------------------------------------------

MODELS: dict[str, type[_Manifest]] = {
    "tessl.json": TesslJson,
    "tile.json": Tile,
    "tessl-plugin": Tile,
    "claude-marketplace": ClaudeMarketplace,
    "claude-plugin": ClaudePlugin,
}


def manifest_record(
    kind: str, path: str, data: dict[str, Any], scope: str, problems: list[str] | None = None
) -> dict[str, Any]:
    """The inventory's view of one manifest: the fields later phases need, JSON-safe and bounded. Values of
    the wrong type are left out and described in `problems`."""
    m, found = checked(MODELS[kind], data)
    if problems is not None:
        problems += [p.text for p in found]
    rec: dict[str, Any] = {"kind": kind, "path": path, "scope": scope, "name": m.name or None}
    rec["version"] = m.version or None
    if isinstance(m, TesslJson):
        rec["mode"] = m.mode or None
        rec["dependencies"] = {
            name: {"version": (dep.version if isinstance(dep, TesslDependency) else dep) or None}
            for name, dep in (m.dependencies or {}).items()
        }
    elif isinstance(m, Tile):
        rec["summary"] = m.summary or m.description or None
        skills: dict[str, str | None] = {}
        if isinstance(m.skills, dict):
            for name, entry in m.skills.items():
                skills[name] = (entry.path if isinstance(entry, TileSkill) else entry) or None
        else:  # plugin.json style: a list of paths
            for sp in m.skills or []:
                if sp:
                    skills[os.path.basename(sp.rstrip("/"))] = sp
        rec["skills"] = skills
        rec["docs"] = m.docs or None
        rec["steering"] = sorted(m.steering) if m.steering else []
        if m.private is not None:
            rec["private"] = m.private
    elif isinstance(m, ClaudeMarketplace):
        rec["plugins"] = [
            {
                "name": p.name,
                "source": (p.source or None) if isinstance(p.source, str) else None,
                "version": p.version or None,
                "skills": [sp for sp in ([p.skills] if isinstance(p.skills, str) else p.skills or []) if sp],
            }
            for p in m.plugins or []
            if p.name
        ]
    elif isinstance(m, ClaudePlugin):
        rec["description"] = m.description or None
    return rec


def installed_plugins(data: dict[str, Any]) -> tuple[InstalledPlugins, list[Problem]]:
    return checked(InstalledPlugins, data)


def mcp_servers(servers: dict[str, Any]) -> tuple[dict[str, McpServer], list[Problem]]:
    """The well-typed entries of an `mcpServers` object, with a problem per entry that is not an object."""
    m, found = checked(McpJson, {"mcpServers": servers})
    return m.mcpServers or {}, found


# -- JSON Schemas ------------------------------------------------------------------------------------------

SCHEMAS: dict[str, type[_Read]] = {
    "manifest_tessl": TesslJson,
    "manifest_tile": Tile,
    "manifest_claude_plugin": ClaudePlugin,
    "manifest_claude_marketplace": ClaudeMarketplace,
    "manifest_installed_plugins": InstalledPlugins,
    "manifest_mcp": McpJson,
}


def json_schema(name: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://skill-insights.local/schemas/{name}.schema.json",
        **SCHEMAS[name].model_json_schema(),
    }


def schema_text(name: str) -> str:
    return json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n"


def main() -> None:
    for name in SCHEMAS:
        file = SCHEMA_DIR / f"{name}.schema.json"
        file.write_text(schema_text(name), encoding="utf-8")
        print(f"wrote {file}")


if __name__ == "__main__":
    main()
