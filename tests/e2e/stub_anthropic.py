"""A small stub of the Anthropic Messages API on 127.0.0.1, enough to drive the real Claude Code client offline.

Standard library only. Endpoints:

- ``POST /v1/messages``: streaming (SSE) or plain JSON replies, chosen from a script (below);
- ``POST /v1/messages/count_tokens``: ``{"input_tokens": n}``;
- ``GET /v1/models[/<id>]``: a fixed list;
- anything else, and proxy ``CONNECT`` (when pointed at as HTTPS_PROXY): logged in ``refused`` and refused.

Script (a dict), stateless so client retries get the same answer::

    {"main": {"<substring of the user prompt>": [reply, ...]},      # reply n = n-th assistant turn of that prompt
     "subagent": {"<substring of the Agent prompt>": [reply, ...]}, # recognised by the subagent's first message
     "default_text": "OK"}                                          # tool-less side queries, exhausted lists

A reply: ``{"text": str?, "thinking": str?, "tool_use": {"name", "input"}?, "usage": {...}?}``. ``usage`` is sent
exactly as given (missing keys from ``DEFAULT_USAGE``), so a test knows every token number it will find.
Every answered message is appended to ``served`` (kind, msg_id, request_id, model, usage, tool names).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DEFAULT_USAGE: dict[str, int] = {
    "input_tokens": 7,
    "output_tokens": 5,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
}
MODELS = ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-5-20251101")


def _rid(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def full_usage(reply: dict[str, Any]) -> dict[str, Any]:
    """The usage object sent for a reply: the script's numbers over the defaults, with the 5m/1h split."""
    usage: dict[str, Any] = {**DEFAULT_USAGE, **reply.get("usage", {})}
    usage.setdefault(
        "cache_creation",
        {"ephemeral_5m_input_tokens": usage["cache_creation_input_tokens"], "ephemeral_1h_input_tokens": 0},
    )
    usage.setdefault("service_tier", "standard")
    return usage


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text")


def _is_tool_result(msg: dict[str, Any]) -> bool:
    c = msg.get("content")
    return isinstance(c, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in c)


def choose(script: dict[str, Any], body: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
    """(kind, step, reply) for a request. kind is main | subagent | side; step counts assistant turns so far."""
    msgs = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    default = {"text": script.get("default_text", "OK")}
    if not body.get("tools"):  # titles, summaries and other helper calls carry no tools
        schema = ((body.get("output_config") or {}).get("format") or {}).get("schema") or {}
        if schema.get("type") == "object":  # structured output: answer with an object of strings
            props = schema.get("properties") or {}
            return "side", 0, {"text": json.dumps({k: "stub" for k, v in props.items() if v.get("type") == "string"})}
        return "side", 0, default
    prompts = [i for i, m in enumerate(msgs) if m.get("role") == "user" and not _is_tool_result(m)]
    last = prompts[-1] if prompts else 0
    step = sum(1 for m in msgs[last:] if m.get("role") == "assistant")
    first = _text_of(msgs[0].get("content")) if msgs else ""
    # Why the first message: a subagent's conversation starts with the Agent prompt; the main one never does.
    for key, replies in (script.get("subagent") or {}).items():
        if key in first:
            return "subagent", step, replies[step] if step < len(replies) else default
    asked = "\n".join(_text_of(msgs[i].get("content")) for i in prompts)
    for key, replies in (script.get("main") or {}).items():
        if key in asked:
            return "main", step, replies[step] if step < len(replies) else default
    return "main", step, default


def content_blocks(reply: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.get("thinking"):
        blocks.append({"type": "thinking", "thinking": reply["thinking"], "signature": _rid("sig_")})
    if reply.get("text"):
        blocks.append({"type": "text", "text": reply["text"]})
    for tu in ([reply["tool_use"]] if reply.get("tool_use") else []) + list(reply.get("tool_uses") or []):
        blocks.append({"type": "tool_use", "id": _rid("toolu_01"), "name": tu["name"], "input": tu.get("input", {})})
    return blocks or [{"type": "text", "text": "OK"}]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stub-anthropic/1"
    stub: StubAPI  # set per server class

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean: served/refused are recorded instead

    def _send_json(self, status: int, obj: Any, request_id: str | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", request_id or _rid("req_011C"))
        self.end_headers()
        self.wfile.write(data)

    def _refuse(self, status: int = 404) -> None:
        self.stub.record_refused(self.command, self.path)
        self._send_json(status, {"type": "error", "error": {"type": "not_found_error", "message": "stub: refused"}})

    def do_CONNECT(self) -> None:
        # Someone tried to leave the machine through us as a proxy: log it and close.
        self.stub.record_refused("CONNECT", self.path)
        self.send_response(403)
        self.send_header("content-length", "0")
        self.end_headers()
        self.close_connection = True

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        if path == "/v1/models":
            data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in MODELS]
            return self._send_json(200, {"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]})
        if path.startswith("/v1/models/"):
            mid = path.rsplit("/", 1)[1]
            return self._send_json(200, {"type": "model", "id": mid, "display_name": mid, "created_at": "2025-01-01"})
        self._refuse()

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if path not in ("/v1/messages", "/v1/messages/count_tokens"):
            return self._refuse()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            err = {"type": "invalid_request_error", "message": "stub: body is not JSON"}
            return self._send_json(400, {"type": "error", "error": err})
        if path.endswith("/count_tokens"):
            return self._send_json(200, {"input_tokens": max(1, len(raw) // 4)})
        self._messages(body)

    do_PUT = do_DELETE = do_PATCH = do_HEAD = _refuse

    def _messages(self, body: dict[str, Any]) -> None:
        kind, step, reply = choose(self.stub.script, body)
        content = content_blocks(reply)
        usage = full_usage(reply)
        stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
        model = body.get("model") or "claude-sonnet-4-5"
        msg_id, request_id = _rid("msg_01"), _rid("req_011C")
        self.stub.record_served(
            {
                "kind": kind,
                "step": step,
                "msg_id": msg_id,
                "request_id": request_id,
                "model": model,
                "usage": usage,
                "tools": [b["name"] for b in content if b["type"] == "tool_use"],
                "stream": bool(body.get("stream")),
            }
        )
        if not body.get("stream"):
            msg = {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage,
            }
            return self._send_json(200, msg, request_id)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", request_id)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for name, data in sse_events(msg_id, model, content, stop, usage):
            payload = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def sse_events(
    msg_id: str, model: str, content: list[dict[str, Any]], stop: str, usage: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """The event sequence of one streamed message, shaped like the real API's."""
    start = {**usage, "output_tokens": 1}  # the real API reports output so far at message_start
    evs: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start,
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for i, b in enumerate(content):
        if b["type"] == "text":
            head, deltas = (
                {"type": "text", "text": ""},
                [{"type": "text_delta", "text": b["text"][j : j + 24]} for j in range(0, len(b["text"]), 24)],
            )
        elif b["type"] == "thinking":
            head = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": b["thinking"]},
                {"type": "signature_delta", "signature": b["signature"]},
            ]
        else:  # tool_use: the input arrives as partial JSON, split mid-token on purpose
            js = json.dumps(b["input"])
            head = {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": js[j : j + 16]} for j in range(0, len(js), 16)]
        evs.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": head}))
        evs += [("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d}) for d in deltas]
        evs.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    evs.append(
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": usage},
        )
    )
    evs.append(("message_stop", {"type": "message_stop"}))
    return evs


class StubAPI:
    """The stub server, run in a background thread: ``with StubAPI(script) as stub: ... stub.url``."""

    def __init__(self, script: dict[str, Any], host: str = "127.0.0.1", port: int = 0):
        self.script = script
        self.served: list[dict[str, Any]] = []
        self.refused: list[dict[str, str]] = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"stub": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def record_served(self, rec: dict[str, Any]) -> None:
        with self._lock:
            self.served.append(rec)

    def record_refused(self, method: str, path: str) -> None:
        with self._lock:
            self.refused.append({"method": method, "path": path})
        print(f"stub-anthropic: refused {method} {path}", file=sys.stderr)

    def start(self) -> StubAPI:
        self._thread = threading.Thread(target=self._server.serve_forever, name="stub-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StubAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """Run it by hand: ``python tests/e2e/stub_anthropic.py --script s.json`` prints the URL, serves until ^C."""
    ap = argparse.ArgumentParser(description="stub of the Anthropic Messages API")
    ap.add_argument("--script", help="JSON script file")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    script = json.loads(Path(args.script).read_text()) if args.script else {}
    stub = StubAPI(script, port=args.port)
    print(stub.url, flush=True)
    try:
        stub._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        print(json.dumps({"served": stub.served, "refused": stub.refused}, indent=1))


if __name__ == "__main__":
    main()
