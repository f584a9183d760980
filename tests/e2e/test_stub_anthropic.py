"""The e2e test's stub of the Messages API, checked on its own (no Claude Code needed, milliseconds)."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from e2e.stub_anthropic import StubAPI, full_usage

SCRIPT: dict[str, Any] = {
    "main": {
        "run it": [
            {
                "thinking": "hmm",
                "text": "Running.",
                "tool_use": {"name": "Bash", "input": {"command": "echo hi"}},
                "usage": {"input_tokens": 3, "output_tokens": 40, "cache_creation_input_tokens": 100},
            },
            {"text": "Done.", "usage": {"input_tokens": 1, "output_tokens": 9, "cache_read_input_tokens": 100}},
        ]
    },
    "subagent": {"SUB-TASK": [{"text": "sub done"}]},
    "default_text": "side answer",
}
TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}}]


@pytest.fixture
def stub() -> Any:
    with StubAPI(SCRIPT) as s:
        yield s


def request(stub: StubAPI, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    u = urlsplit(stub.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request(
        method, path, body=None if body is None else json.dumps(body), headers={"content-type": "application/json"}
    )
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def sse(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for chunk in data.decode().split("\n\n"):
        if chunk.strip():
            name, payload = chunk.split("\n", 1)
            events.append((name.removeprefix("event: "), json.loads(payload.removeprefix("data: "))))
    return events


def rebuild(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Assemble a message from SSE events, the way a client does."""
    msg: dict[str, Any] = {}
    partial: dict[int, str] = {}
    for name, ev in events:
        if name == "message_start":
            msg = ev["message"]
        elif name == "content_block_start":
            msg["content"].append(dict(ev["content_block"]))
        elif name == "content_block_delta":
            b, d = msg["content"][ev["index"]], ev["delta"]
            if d["type"] == "text_delta":
                b["text"] += d["text"]
            elif d["type"] == "thinking_delta":
                b["thinking"] += d["thinking"]
            elif d["type"] == "signature_delta":
                b["signature"] += d["signature"]
            else:
                partial[ev["index"]] = partial.get(ev["index"], "") + d["partial_json"]
        elif name == "content_block_stop" and ev["index"] in partial:
            msg["content"][ev["index"]]["input"] = json.loads(partial.pop(ev["index"]))
        elif name == "message_delta":
            msg["stop_reason"], msg["usage"] = ev["delta"]["stop_reason"], ev["usage"]
    return msg


def test_streamed_turns_follow_the_script(stub: StubAPI) -> None:
    first = {
        "model": "claude-sonnet-4-5",
        "stream": True,
        "tools": TOOLS,
        "messages": [{"role": "user", "content": "please run it"}],
    }
    status, headers, data = request(stub, "POST", "/v1/messages?beta=true", first)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = sse(data)
    assert [n for n, _ in events][:2] == ["message_start", "ping"] and events[-1][0] == "message_stop"
    msg = rebuild(events)
    assert [b["type"] for b in msg["content"]] == ["thinking", "text", "tool_use"]
    assert msg["content"][2]["input"] == {"command": "echo hi"}
    assert msg["stop_reason"] == "tool_use"
    assert msg["usage"] == full_usage(SCRIPT["main"]["run it"][0])
    assert msg["usage"]["cache_creation"] == {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 0}

    tool_use = msg["content"][2]
    second = {
        **first,
        "messages": [
            *first["messages"],
            {"role": "assistant", "content": msg["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "hi"}]},
        ],
    }
    msg2 = rebuild(sse(request(stub, "POST", "/v1/messages", second)[2]))
    assert msg2["content"] == [{"type": "text", "text": "Done."}] and msg2["stop_reason"] == "end_turn"
    assert [(s["kind"], s["step"], s["msg_id"]) for s in stub.served] == [
        ("main", 0, msg["id"]),
        ("main", 1, msg2["id"]),
    ]
    assert stub.served[0]["request_id"] == headers["request-id"]


def test_json_replies_subagents_side_queries_and_other_endpoints(stub: StubAPI) -> None:
    sub = {
        "model": "m",
        "tools": TOOLS,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "SUB-TASK: look around"}]}],
    }
    status, _, data = request(stub, "POST", "/v1/messages", sub)
    assert status == 200 and json.loads(data)["content"] == [{"type": "text", "text": "sub done"}]
    side = {"model": "m", "messages": [{"role": "user", "content": "title?"}]}
    assert json.loads(request(stub, "POST", "/v1/messages", side)[2])["content"][0]["text"] == "side answer"
    assert [s["kind"] for s in stub.served] == ["subagent", "side"]
    assert json.loads(request(stub, "POST", "/v1/messages/count_tokens", side)[2])["input_tokens"] > 0
    assert any(m["id"].startswith("claude-sonnet") for m in json.loads(request(stub, "GET", "/v1/models")[2])["data"])
    assert stub.refused == []
    assert request(stub, "GET", "/api/hello")[0] == 404
    assert request(stub, "CONNECT", "example.invalid:443")[0] == 403
    assert stub.refused == [
        {"method": "GET", "path": "/api/hello"},
        {"method": "CONNECT", "path": "example.invalid:443"},
    ]
