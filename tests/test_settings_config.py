"""config.json: read without blocking, capped, checked by its pydantic model; a broken one is named in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skill_insights.settings import CONFIG_MAX_BYTES, read_config

ENTRY = "import sys; from skill_insights.quick import main; sys.argv[0] = 'skill-insights'; main()"
READ = (
    "import sys; from pathlib import Path; from skill_insights.settings import read_config; "
    "print(read_config(Path(sys.argv[1]))); print('pydantic' in sys.modules)"
)


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def _read_in_a_process(path: Path) -> subprocess.CompletedProcess:
    # A process of its own with a timeout: a reader that blocks fails the test instead of hanging it.
    return subprocess.run([sys.executable, "-c", READ, str(path)], capture_output=True, text=True, timeout=30)


def test_a_fifo_config_is_not_waited_for(tmp_path):
    config = tmp_path / "config.json"
    os.mkfifo(config)
    result = _read_in_a_process(config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "{}"
    [warning] = _warnings(result.stderr)
    assert str(config) in warning and "not a regular file" in warning


def test_a_config_linked_to_a_device_is_not_read(tmp_path):
    config = tmp_path / "config.json"
    config.symlink_to("/dev/zero")  # endless: a reader without a cap never returns
    result = _read_in_a_process(config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "{}"
    [warning] = _warnings(result.stderr)
    assert str(config) in warning and "not a regular file" in warning


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"report_keep": 3', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),  # deeper than the parser goes
        (b'["report_keep", 3]', "not a JSON object"),
        (b'"report_keep"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b'{"pad": "' + b"x" * (CONFIG_MAX_BYTES + 10) + b'"}', "larger than 1 MiB"),
    ],
)
def test_a_broken_config_gives_the_defaults_and_one_line_naming_it(tmp_path, capsys, content, why):
    config = tmp_path / "config.json"
    config.write_bytes(content)
    assert read_config(config) == {}
    [warning] = _warnings(capsys.readouterr().err)
    assert warning.startswith(f"warning: {config} ")
    assert why in warning


def test_known_keys_are_checked_and_unknown_keys_kept(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "report_keep": "5",
                "llm": {"timeout": "2.5", "model": "claude-haiku-4-5", "newer_option": True},
                "registry": {"skills_api_url": "http://127.0.0.1:9/"},
                "a_key_of_a_newer_version": [1, 2],
            }
        )
    )
    assert read_config(config) == {
        "report_keep": 5,
        "llm": {"timeout": 2.5, "model": "claude-haiku-4-5", "newer_option": True},
        "registry": {"skills_api_url": "http://127.0.0.1:9/"},
        "a_key_of_a_newer_version": [1, 2],
    }
    assert capsys.readouterr().err == ""


def test_a_bad_value_is_dropped_with_a_warning_and_the_rest_kept(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "report_keep": -1,
                "analysis": "every day",
                "registry": {"timeout": "soon", "skills_api_url": "http://127.0.0.1:9/"},
                "tessl_registry_url": "http://127.0.0.1:8/",
            }
        )
    )
    assert read_config(config) == {
        "registry": {"skills_api_url": "http://127.0.0.1:9/"},
        "tessl_registry_url": "http://127.0.0.1:8/",
    }
    [warning] = _warnings(capsys.readouterr().err)
    assert str(config) in warning
    for key in ("report_keep", "analysis", "registry.timeout"):
        assert key in warning
    assert read_config(config)["tessl_registry_url"] == "http://127.0.0.1:8/"
    assert capsys.readouterr().err == ""  # said once per process, not at every read


def test_a_missing_config_is_silent_and_does_not_load_pydantic(tmp_path):
    result = _read_in_a_process(tmp_path / "absent.json")
    assert result.stdout.splitlines() == ["{}", "False"]
    assert result.stderr == ""


def test_usage_json_does_not_load_pydantic_even_with_a_config(isolated_home, isolated_env):
    config = isolated_home.store / "config" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text('{"report_keep": 3}')
    code = ENTRY + "; sys.stderr.write('pydantic imported: %s\\n' % ('pydantic' in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code, "usage", "daily", "--json"],
        env=isolated_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "pydantic imported: False" in result.stderr


def test_the_report_command_with_a_fifo_config_finishes_and_names_it(isolated_home, isolated_env):
    config = isolated_home.store / "config" / "config.json"
    config.parent.mkdir(parents=True)
    os.mkfifo(config)
    result = subprocess.run(
        [sys.executable, "-c", ENTRY, "report"], env=isolated_env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in _warnings(result.stderr) if line.startswith("warning:")]
    assert warnings == [f"warning: {config} is not a regular file; using the defaults"]
    assert Path(result.stdout.strip().splitlines()[-1]).is_file()  # the report was written all the same
