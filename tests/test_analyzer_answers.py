"""What registries and the LLM judge answer is checked by one model each: a wrong shape is refused whole, a
row of another shape is skipped, scores are clamped, and nothing half-typed reaches the phases."""

from __future__ import annotations

import pytest

from skill_insights.analyzers.answers import (
    MessagesAnswer,
    PairVerdict,
    RegistryCacheEntry,
    SkillScores,
    ValidationError,
    alternatives_in,
    schema_of,
)


def test_search_rows_of_another_shape_are_skipped():
    doc = {
        "skills": [
            {"id": "a/pdf", "name": "pdf", "installs": 12.0, "source": "a"},
            {"name": "docx"},
            {"name": ""},
            {"id": "x"},
            "not a row",
            {"name": "xlsx", "installs": "many"},
            {"name": ["list"]},
        ],
        "extra": True,
    }
    got = [(a.id, a.name, a.installs, a.source) for a in alternatives_in(doc)]
    assert got == [("a/pdf", "pdf", 12, "a"), ("docx", "docx", None, None)]


@pytest.mark.parametrize("doc", [[], {"skills": "pdf"}, {"results": []}, None, "skills"])
def test_a_search_answer_of_another_shape_is_refused(doc):
    with pytest.raises(ValidationError):
        alternatives_in(doc)


def test_the_cache_entry_round_trips_and_refuses_what_put_does_not_write():
    entry = RegistryCacheEntry(query="pdf", fetched_at=1.5, results=alternatives_in({"skills": [{"name": "pdf"}]}))
    assert RegistryCacheEntry.model_validate_json(entry.model_dump_json()) == entry
    with pytest.raises(ValidationError):
        RegistryCacheEntry.model_validate({"query": "pdf", "fetched_at": "yesterday", "results": []})


def test_skill_scores_are_numbers_clamped_and_the_reason_short():
    s = SkillScores.model_validate({"description": 150, "content": -3.4, "reason": "x" * 1000})
    assert (s.description, s.content, len(s.reason)) == (100, 0, 300)
    for bad in ({"description": "80", "content": 50}, {"description": True, "content": 50}, {"content": 50}):
        with pytest.raises(ValidationError):
            SkillScores.model_validate(bad)


def test_pair_verdicts_are_one_of_three_with_the_first_line_of_the_reason():
    v = PairVerdict.model_validate({"verdict": " Same ", "reason": "same steps\nsecond line"})
    assert (v.verdict, v.reason) == ("same", "same steps")
    with pytest.raises(ValidationError):
        PairVerdict.model_validate({"verdict": "maybe"})


def test_messages_answer_text_and_shape():
    doc = {"content": [{"type": "text", "text": "{"}, {"type": "tool_use", "id": "t"}, {"type": "text", "text": "}"}]}
    assert MessagesAnswer.model_validate(doc).text() == "{}"
    with pytest.raises(ValidationError):
        MessagesAnswer.model_validate({"content": "text"})


def test_each_shape_has_its_json_schema():
    assert schema_of(SkillScores)["required"] == ["description", "content"]
    assert set(schema_of(PairVerdict)["properties"]["verdict"]["enum"]) == {"same", "overlapping", "distinct"}
