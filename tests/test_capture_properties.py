"""Property tests of the line parser: arbitrary JSON values in every usage field (and the fields around it)
never raise anything but MalformedLine, and a hostile line never changes what the lines beside it count."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skill_insights.collectors.parse import MalformedLine, parse_line
from skill_insights.collectors.transcripts import TranscriptTailer
from skill_insights.pricing import PriceTable
from skill_insights.records import MAX_RESPONSE_TOKENS
from skill_insights.store import open_db

PRICES = PriceTable.bundled()
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def hostile_assistant_line(draw) -> dict:
    usage = {k: draw(json_values) for k in USAGE_KEYS if draw(st.booleans())}
    if draw(st.booleans()):
        usage["cache_creation"] = draw(
            json_values
            | st.fixed_dictionaries(
                {"ephemeral_5m_input_tokens": json_values, "ephemeral_1h_input_tokens": json_values}
            )
        )
    message = {
        "id": draw(st.just("msg_hostile") | json_values),
        "model": draw(st.just("claude-sonnet-4-5") | json_values),
        "usage": draw(st.just(usage) | json_values),
        "content": draw(st.just([{"type": "text", "text": "hi"}]) | json_values),
    }
    return {
        "type": "assistant",
        "timestamp": draw(st.just("2026-11-20T10:00:01Z") | json_values),
        "requestId": draw(st.just("req_hostile") | json_values),
        "sessionId": "s",
        "message": draw(st.just(message) | json_values),
    }


def _line(mid: str, usage: dict, ts: str = "2026-11-20T10:00:00Z") -> dict:
    return {
        "type": "assistant",
        "timestamp": ts,
        "requestId": "r" + mid,
        "sessionId": "s",
        "message": {
            "id": mid,
            "model": "claude-sonnet-4-5",
            "usage": usage,
            "content": [{"type": "text", "text": "x"}],
        },
    }


@settings(max_examples=300, deadline=None)
@given(doc=hostile_assistant_line())
def test_the_parser_raises_only_malformed_line(doc):
    try:
        line = parse_line(json.dumps(doc).encode())
    except MalformedLine:
        return
    if line is not None and line.response is not None:
        u = line.response.usage
        for v in (u.input_tokens, u.output_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens):
            assert type(v) is int and 0 <= v <= MAX_RESPONSE_TOKENS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=hostile_assistant_line())
def test_a_hostile_line_never_changes_the_lines_beside_it(tmp_path, doc):
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    project = root / "projects" / "-p"
    project.mkdir(parents=True)
    a = _line("msg_a", {"input_tokens": 3, "output_tokens": 5, "cache_read_input_tokens": 7})
    b = _line("msg_b", {"input_tokens": 11, "output_tokens": 13})
    lines = [json.dumps(a), json.dumps(doc), json.dumps(b)]
    (project / "s.jsonl").write_text("\n".join(lines) + "\n")
    db = open_db(root / "db.sqlite")
    try:
        summary = TranscriptTailer(db, PRICES).ingest_paths([project / "s.jsonl"])
        assert summary.new_lines == 3 and summary.malformed in (0, 1)
        got = {
            r[0]: r[1:]
            for r in db.execute(
                "SELECT message_id, input_tokens, output_tokens, cache_read_input_tokens FROM responses"
                " WHERE message_id IN ('msg_a', 'msg_b')"
            )
        }
        assert got == {"msg_a": (3, 5, 7), "msg_b": (11, 13, 0)}
        # The session's sums are those two plus whatever the hostile line validly holds, never less.
        row = db.execute("SELECT input_tokens, output_tokens FROM sessions WHERE session_id = 's'").fetchone()
        assert row[0] >= 14 and row[1] >= 18
    finally:
        db.conn.close()


def test_the_strategy_reaches_both_outcomes():
    """The property tests above see hostile lines the parser refuses and ones it takes."""
    seen = set()

    @settings(max_examples=200, deadline=None)
    @given(doc=hostile_assistant_line())
    def probe(doc):
        try:
            parse_line(json.dumps(doc).encode())
            seen.add("taken")
        except MalformedLine:
            seen.add("refused")

    probe()
    assert seen == {"taken", "refused"}
