"""Cost: list prices, cache multipliers, the long-context tier, and LiteLLM price files."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_analyzers_support import serve
from transcript_corpus import copy_projects

from skill_insights.cli import cli
from skill_insights.collectors.parse import Usage
from skill_insights.pricing import PriceTable, from_litellm, normalize_model


def test_cache_multipliers_and_list_prices():
    table = PriceTable.bundled()
    u = Usage(input_tokens=100_000, output_tokens=100_000)
    assert table.cost("claude-sonnet-4-5", u) == pytest.approx(0.1 * (3 + 15))
    writes = Usage(cache_creation_input_tokens=200_000, cache_creation_5m=100_000, cache_creation_1h=100_000)
    assert table.cost("claude-sonnet-4-5", writes) == pytest.approx(0.1 * (3 * 1.25 + 3 * 2))
    reads = Usage(cache_read_input_tokens=1_000_000)
    assert table.cost("claude-haiku-4-5", reads) == pytest.approx(0.1)


def test_long_context_prices_the_whole_request_at_premium_rates():
    table = PriceTable.bundled()
    at = Usage(input_tokens=100_000, cache_read_input_tokens=100_000, output_tokens=1_000)
    over = Usage(input_tokens=100_001, cache_read_input_tokens=100_000, output_tokens=1_000)
    assert table.cost("claude-sonnet-4-5", at) == pytest.approx((100_000 * 3 + 100_000 * 0.3 + 1_000 * 15) / 1e6)
    assert table.cost("claude-sonnet-4-5", over) == pytest.approx((100_001 * 6 + 100_000 * 0.6 + 1_000 * 22.5) / 1e6)
    # A model without a long-context tier keeps its rates.
    assert table.cost("claude-haiku-4-5", over) == pytest.approx((100_001 * 1 + 100_000 * 0.1 + 1_000 * 5) / 1e6)


def test_model_names_are_normalised():
    assert normalize_model("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    assert normalize_model("us.anthropic.claude-sonnet-4-5-20250929-v1:0") == "claude-sonnet-4-5"
    assert normalize_model("anthropic/claude-opus-4-5") == "claude-opus-4-5"
    table = PriceTable.bundled()
    assert table.lookup("claude-opus-4-1-20250805") is table.lookup("claude-opus-4-1")
    assert table.lookup("gpt-unknown") is None
    assert table.cost("gpt-unknown", Usage(input_tokens=5)) is None


LITELLM = {
    "sample_spec": {"input_cost_per_token": 0},
    "claude-sonnet-4-5": {
        "input_cost_per_token": 4e-06,
        "output_cost_per_token": 2e-05,
        "cache_creation_input_token_cost": 5e-06,
        "cache_read_input_token_cost": 4e-07,
        "input_cost_per_token_above_200k_tokens": 8e-06,
        "output_cost_per_token_above_200k_tokens": 3e-05,
    },
    "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0": {"input_cost_per_token": 9e-06, "output_cost_per_token": 1},
    "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05},
}


def test_from_litellm_keeps_claude_models_and_prefers_the_plain_entry():
    doc = from_litellm(LITELLM, updated="2026-11-22")
    assert set(doc["models"]) == {"claude-sonnet-4-5"}
    m = doc["models"]["claude-sonnet-4-5"]
    assert m["input"] == pytest.approx(4) and m["output"] == pytest.approx(20)
    assert m["cache_write_5m"] == pytest.approx(5) and m["cache_read"] == pytest.approx(0.4)
    assert m["long_context"]["input"] == pytest.approx(8)
    with pytest.raises(ValueError):
        from_litellm({"gpt-4o": LITELLM["gpt-4o"]})


def test_pricing_update_from_url_reprices_stored_responses(tmp_path):
    projects = copy_projects(tmp_path, "2.1.330", ["hello"])
    runner = CliRunner()
    runner.invoke(cli, ["ingest", "--projects-dir", str(projects)], catch_exceptions=False)
    before = json.loads(runner.invoke(cli, ["usage", "daily", "--json"]).output)["totals"]
    with serve(lambda req: (200, LITELLM)) as server:
        url = f"{server.url}/prices.json"
        r = runner.invoke(cli, ["pricing", "update", "--from", url], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "re-priced" in r.output
    after = json.loads(runner.invoke(cli, ["usage", "daily", "--json"]).output)["totals"]
    assert after["total_tokens"] == before["total_tokens"]
    # hello: 4 input, 12 output, 22310 5-minute cache writes at the new rates ($4, $20, $5 per MTok).
    assert after["cost_usd"] == pytest.approx((4 * 4 + 12 * 20 + 22_310 * 5) / 1e6)
    shown = json.loads(runner.invoke(cli, ["pricing", "show", "--json"]).output)
    assert shown["models"]["claude-sonnet-4-5"]["input"] == pytest.approx(4)


def test_pricing_update_refuses_bad_sources_and_keeps_prices(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = runner.invoke(cli, ["pricing", "update", "--from", str(bad)])
    assert r.exit_code == 1 and "cannot load prices" in r.output
    with serve(lambda req: (500, b"oops")) as server:
        r = runner.invoke(cli, ["pricing", "update", "--from", f"{server.url}/x", "--timeout", "2"])
    assert r.exit_code == 1 and "500" in r.output
    shown = json.loads(runner.invoke(cli, ["pricing", "show", "--json"]).output)
    assert shown["source"] == "bundled"
    assert shown["models"]["claude-sonnet-4-5"]["input"] == pytest.approx(3)
