"""The YAML side of SKILL.md parsing (skillmd imports it on the first frontmatter): PyYAML's safe loaders,
capped at MAX_ALIASES aliases, and the plain-scalar resolver the no-parser fast path checks values with."""

from __future__ import annotations

from typing import Any

import yaml

MAX_ALIASES = 32  # a real frontmatter has no reason to alias much; billion laughs needs many


class AliasLimitError(yaml.YAMLError):
    """Raised when a document uses more aliases than a frontmatter plausibly needs (billion laughs)."""


class _CountingLoader(yaml.SafeLoader):
    """SafeLoader that stops at MAX_ALIASES aliases: alias expansion is what makes a YAML bomb explode."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise AliasLimitError(f"more than {MAX_ALIASES} YAML aliases")
        return super().compose_node(parent, index)


_FAST_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()


def simple_tag(scalar: str) -> str:
    """The tag YAML gives a plain scalar (str, int, bool, null, timestamp…)."""
    return _RESOLVER.resolve(yaml.ScalarNode, scalar, (True, False))


# The C loader composes nodes by C recursion, unchecked: ~25,000 nested `[`, `{` or `- ` (50 KB) overflow the
# stack and kill the process. A nesting level needs a `[`, `{`, `-` or `?` (each opens at most two: a mapping
# inside a `- ` entry or a `[`), or else a new, deeper-indented line (a block mapping in a block mapping), so
# 2·indicators + lines roughly bounds the depth. Text over the bound takes the Python loader, whose recursion
# ends in a RecursionError (a finding). Real frontmatter stays far below it; the C loader far above.
MAX_C_NESTING = 1000


def _may_nest_deep(text: str) -> bool:
    bound = 2 * (text.count("[") + text.count("{") + text.count("-") + text.count("?")) + text.count("\n")
    return bound > MAX_C_NESTING


def load(text: str) -> Any:
    """`yaml.safe_load` under the alias cap. The C loader can't count aliases, but it need not: every alias is
    written with a `*`, and without an `&` no anchor exists to alias. So text without `&`, or with no more `*`
    than the cap, takes it, unless it might nest deep enough to overflow its stack; the rest takes the
    counting Python loader. (What shared nodes expand to is json_safe's to cap.)"""
    if ("&" not in text or text.count("*") <= MAX_ALIASES) and not _may_nest_deep(text):
        return yaml.load(text, Loader=_FAST_LOADER)
    loader = _CountingLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
