"""The shapes of what remote services answer the analyzers, as pydantic models: each is written once, checked
on arrival (a wrong shape is refused, never half-used) and gives its JSON Schema (`schema_of`).

* the skills search API: `{"skills": [{id, name, installs, source}]}`, and the phase's disk cache of it;
* the Anthropic Messages API's answer, and the JSON verdicts the LLM judge is asked for.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError, field_validator

__all__ = [
    "Alternative",
    "MessagesAnswer",
    "PairVerdict",
    "RegistryCacheEntry",
    "SearchAnswer",
    "SkillScores",
    "ValidationError",
    "alternatives_in",
]

REASON_CHARS = 300
VERDICTS = ("same", "overlapping", "distinct")


class Alternative(BaseModel):
    """A registry's skill offered in place of a local one."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    installs: int | None = None
    source: str | None = None


class _SearchHit(BaseModel):
    """One row of a search answer as registries write it: lenient, then made an `Alternative`."""

    model_config = ConfigDict(extra="ignore")

    id: str | int | None = None
    name: str = Field(min_length=1)
    installs: StrictInt | StrictFloat | None = None
    source: str | int | None = None

    def alternative(self) -> Alternative:
        return Alternative(
            id=str(self.id or self.name),
            name=self.name,
            installs=None if self.installs is None else int(self.installs),
            source=None if self.source is None else str(self.source),
        )


class SearchAnswer(BaseModel):
    """`GET {base}/api/search?q=…` → `{"skills": [...]}`; rows are checked one by one (see `alternatives_in`)."""

    model_config = ConfigDict(extra="ignore")

    skills: list[Any]


def alternatives_in(doc: Any) -> list[Alternative]:
    """The alternatives of a search answer; rows of another shape are skipped. Raises ValidationError when the
    answer itself is not `{"skills": [...]}`."""
    out = []
    for row in SearchAnswer.model_validate(doc).skills:
        try:
            out.append(_SearchHit.model_validate(row).alternative())
        except ValidationError:
            continue
    return out


class RegistryCacheEntry(BaseModel):
    query: str
    fetched_at: float
    results: list[Alternative]


class _TextBlock(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: str = ""


class MessagesAnswer(BaseModel):
    """The Messages API's answer: only its text blocks matter here."""

    model_config = ConfigDict(extra="ignore")

    content: list[_TextBlock]

    def text(self) -> str:
        return "".join(b.text for b in self.content if b.type == "text")


def _reason(value: Any) -> str:
    return str(value or "")[:REASON_CHARS]


class SkillScores(BaseModel):
    """The judge's scores of one skill: 0–100 each (rounded and clamped), with a short reason."""

    model_config = ConfigDict(extra="ignore")

    description: StrictInt | StrictFloat
    content: StrictInt | StrictFloat
    reason: str = ""

    @field_validator("description", "content", mode="after")
    @classmethod
    def _score(cls, v: float) -> int:
        return max(0, min(100, round(v)))

    @field_validator("reason", mode="before")
    @classmethod
    def _short(cls, v: Any) -> str:
        return _reason(v)


class PairVerdict(BaseModel):
    """The judge's verdict on two near-duplicate skills, with the first line of its reason."""

    model_config = ConfigDict(extra="ignore")

    verdict: Literal["same", "overlapping", "distinct"]
    reason: str = ""

    @field_validator("verdict", mode="before")
    @classmethod
    def _normal(cls, v: Any) -> str:
        return str(v or "").strip().lower()

    @field_validator("reason", mode="before")
    @classmethod
    def _first_line(cls, v: Any) -> str:
        return _reason(str(v).splitlines()[0]) if v else ""


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()
