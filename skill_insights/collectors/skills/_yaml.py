"""The YAML side of SKILL.md parsing (skillmd imports it on the first frontmatter): PyYAML's safe loaders,
capped at MAX_ALIASES aliases, and the plain-scalar resolver the no-parser fast path checks values with."""

from __future__ import annotations

from typing import Any

import yaml

from skill_insights.collectors.skills.skillmd import MAX_ALIASES


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


def load(text: str) -> Any:
    """`yaml.safe_load` under the alias cap. Text without `&`/`*` cannot alias, so it takes the C loader."""
    if "&" not in text and "*" not in text:
        return yaml.load(text, Loader=_FAST_LOADER)
    loader = _CountingLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
