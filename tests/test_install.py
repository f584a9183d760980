"""`skill-insights install` / `uninstall`: merging into a user's real-looking settings, reversibly."""

from __future__ import annotations

import json
import os
import plistlib
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import IsolatedHome

from skill_insights.cli import cli
from skill_insights.hooks import install, locations

ROOT = Path(__file__).resolve().parent.parent

# A settings file as people have them: other keys, other hooks on the same and other events, a matcher.
ORIGINAL = {
    "model": "sonnet",
    "permissions": {"allow": ["Bash(git status)"], "deny": []},
    "env": {"FOO": "1"},
    "hooks": {
        "SessionStart": [
            {"matcher": "startup", "hooks": [{"type": "command", "command": "echo hello", "timeout": 5}]},
        ],
        "SessionEnd": [{"hooks": [{"type": "command", "command": "~/bin/notify-done"}]}],
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "guard.sh"}]}],
    },
    "statusLine": {"type": "command", "command": "status.sh"},
}


@pytest.fixture
def paths(isolated_home: IsolatedHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IsolatedHome:
    # No systemctl/launchctl on PATH: tests never talk to the machine's real service manager.
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    return isolated_home


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def write_settings(path: Path, doc: object) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(doc, indent=4).encode()
    path.write_bytes(data)
    return data


def ours(doc: dict, event: str) -> list[dict]:
    return [h for g in doc.get("hooks", {}).get(event, []) for h in g.get("hooks", []) if install.is_ours(h)]


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.bak-*"))


def test_install_install_uninstall_round_trip(paths):
    settings = paths.root / "custom" / "settings.json"
    original_bytes = write_settings(settings, ORIGINAL)

    first = invoke("install", "--settings", str(settings), "--no-service")
    assert first.exit_code == 0, first.output
    after_first = settings.read_bytes()
    doc = json.loads(after_first)
    for event, arg in install.EVENTS.items():
        mine = ours(doc, event)
        assert len(mine) == 1
        assert mine[0]["command"] == install.hook_command(arg, home=os.environ["SKILL_INSIGHTS_HOME"])
        assert mine[0]["type"] == "command"
    # Everything that was there is still there, in place.
    assert {k: v for k, v in doc.items() if k != "hooks"} == {k: v for k, v in ORIGINAL.items() if k != "hooks"}
    assert doc["hooks"]["PreToolUse"] == ORIGINAL["hooks"]["PreToolUse"]
    assert doc["hooks"]["SessionStart"][0] == ORIGINAL["hooks"]["SessionStart"][0]
    assert doc["hooks"]["SessionEnd"][0] == ORIGINAL["hooks"]["SessionEnd"][0]
    assert [b.read_bytes() for b in backups(settings)] == [original_bytes]

    second = invoke("install", "--settings", str(settings), "--no-service")
    assert second.exit_code == 0
    assert "nothing changed" in second.output
    assert settings.read_bytes() == after_first
    assert len(backups(settings)) == 1

    gone = invoke("uninstall", "--settings", str(settings), "--no-service")
    assert gone.exit_code == 0, gone.output
    assert "restored exactly" in gone.output
    # Byte for byte as it was (indentation included), and install's backup of it is gone with it.
    assert settings.read_bytes() == original_bytes
    assert backups(settings) == []


def test_uninstall_keeps_what_the_user_changed_since_install(paths):
    settings = paths.claude / "settings.json"
    write_settings(settings, ORIGINAL)
    assert invoke("install", "--no-service").exit_code == 0
    doc = json.loads(settings.read_text())
    doc["model"] = "opus"
    settings.write_text(json.dumps(doc))
    assert invoke("uninstall", "--no-service").exit_code == 0
    assert json.loads(settings.read_text()) == {**ORIGINAL, "model": "opus"}


def test_install_writes_skill_insights_home_into_the_hook_commands(paths, tmp_path):
    settings = paths.claude / "settings.json"
    assert invoke("install", "--no-service").exit_code == 0
    home = os.environ["SKILL_INSIGHTS_HOME"]
    for event in install.EVENTS:
        (hook,) = ours(json.loads(settings.read_text()), event)
        assert hook["command"].startswith(f"SKILL_INSIGHTS_HOME={shlex.quote(home)} ")
    # The command, run by a shell without that variable (as Claude Code runs it), spools into that home.
    (hook,) = ours(json.loads(settings.read_text()), "SessionEnd")
    clean = {k: v for k, v in os.environ.items() if k != "SKILL_INSIGHTS_HOME"}
    payload = json.dumps(
        {"session_id": "s1", "transcript_path": str(tmp_path / "none.jsonl"), "hook_event_name": "SessionEnd"}
    )
    subprocess.run(["/bin/sh", "-c", hook["command"]], input=payload, text=True, env=clean, timeout=30, check=True)
    assert list((Path(home) / "run").rglob("*")), "the hook wrote nothing under SKILL_INSIGHTS_HOME"


def test_install_uses_claude_config_dir_by_default_and_uninstall_restores(paths):
    settings = paths.claude / "settings.json"
    write_settings(settings, {"theme": "dark"})

    assert invoke("install", "--no-service").exit_code == 0
    assert len(ours(json.loads(settings.read_text()), "SessionEnd")) == 1

    assert invoke("uninstall", "--no-service").exit_code == 0
    assert json.loads(settings.read_text()) == {"theme": "dark"}


def test_install_creates_a_missing_settings_file(paths):
    settings = paths.claude / "settings.json"
    result = invoke("install", "--no-service")
    assert result.exit_code == 0
    assert "created" in result.output
    doc = json.loads(settings.read_text())
    assert set(doc["hooks"]) == {"SessionStart", "SessionEnd"}
    assert backups(settings) == []
    gone = invoke("uninstall", "--no-service")
    assert "removed" in gone.output
    assert not settings.exists() and backups(settings) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"hooks": {,}}', "not valid JSON"),
        (b"// a comment\n{}", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"hooks": []}', '"hooks"'),
        (b'{"hooks": {"SessionEnd": {"command": "x"}}}', "hooks.SessionEnd"),
    ],
)
@pytest.mark.parametrize("command", ["install", "uninstall"])
def test_settings_we_cannot_read_safely_are_refused_and_untouched(paths, content, message, command):
    settings = paths.claude / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_bytes(content)
    before = sorted(settings.parent.iterdir())

    result = invoke(command, "--settings", str(settings), "--no-service")

    assert result.exit_code != 0
    assert message in result.output
    assert "nothing was changed" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert settings.read_bytes() == content
    assert sorted(settings.parent.iterdir()) == before


def test_dry_run_writes_nothing(paths):
    settings = paths.claude / "settings.json"
    original = write_settings(settings, ORIGINAL)
    snapshot = sorted(p for p in paths.root.rglob("*"))

    result = invoke("install", "--dry-run")

    assert result.exit_code == 0
    assert "would be updated" in result.output
    assert "would write" in result.output  # the service unit, not written
    assert settings.read_bytes() == original
    assert sorted(p for p in paths.root.rglob("*")) == snapshot


def test_installed_command_runs_through_a_shell_even_with_spaces_in_paths(paths):
    # Claude Code runs hook commands through a shell: the quoting must survive a space in the interpreter path.
    spaced = paths.root / "my python"
    spaced.mkdir()
    (spaced / "python").symlink_to(sys.executable)
    command = install.hook_command("session-end", python=str(spaced / "python"))
    assert shlex.split(command)[0] == str(spaced / "python")

    result = subprocess.run(
        ["/bin/sh", "-c", command], input=b"not json", capture_output=True, timeout=30, env=dict(os.environ)
    )

    assert result.returncode == 0 and result.stdout == b""
    assert "not a JSON object" in Path(locations.hook_log()).read_text()


def test_a_moved_interpreter_is_updated_in_place_not_added_twice(paths):
    settings = paths.claude / "settings.json"
    old = {
        "hooks": {
            "SessionEnd": [
                {
                    "hooks": [
                        {"type": "command", "command": "echo first"},
                        {
                            "type": "command",
                            "command": install.hook_command("session-end", python="/old/python"),
                            "timeout": 3,
                        },
                    ]
                },
            ],
        },
    }
    write_settings(settings, old)

    assert invoke("install", "--no-service").exit_code == 0

    doc = json.loads(settings.read_text())
    group = doc["hooks"]["SessionEnd"][0]
    assert group["hooks"][0] == {"type": "command", "command": "echo first"}
    assert group["hooks"][1]["command"] == install.hook_command("session-end", home=os.environ["SKILL_INSIGHTS_HOME"])
    assert len(ours(doc, "SessionEnd")) == 1 and len(doc["hooks"]["SessionEnd"]) == 1
    # Uninstall keeps the user's hook that shared our group.
    invoke("uninstall", "--no-service")
    assert json.loads(settings.read_text()) == {
        "hooks": {"SessionEnd": [{"hooks": [{"type": "command", "command": "echo first"}]}]}
    }


def test_install_writes_through_a_symlinked_settings_file(paths):
    real = paths.root / "dotfiles" / "claude-settings.json"
    write_settings(real, {"model": "opus"})
    link = paths.claude / "settings.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)

    assert invoke("install", "--no-service").exit_code == 0

    assert link.is_symlink()
    assert len(ours(json.loads(real.read_text()), "SessionStart")) == 1


# -- autostart ------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the systemd user unit is Linux only")
def test_service_unit_written_and_removed_without_a_service_manager(paths):
    unit = paths.home / ".config" / "systemd" / "user" / install.UNIT_NAME

    result = invoke("install")

    assert result.exit_code == 0, result.output
    text = unit.read_text()
    assert f"ExecStart={sys.executable} -P -m skill_insights daemon run" in text
    assert f"Environment=SKILL_INSIGHTS_HOME={paths.store}" in text
    assert "systemctl not found" in result.output
    # No service manager took it over, so the SessionStart hook keeps starting the daemon itself.
    assert not Path(locations.service_marker()).exists()

    assert invoke("uninstall").exit_code == 0
    assert not unit.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the systemd user unit is Linux only")
def test_a_unit_file_we_did_not_write_is_left_alone(paths):
    unit = paths.home / ".config" / "systemd" / "user" / install.UNIT_NAME
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/bin/true\n")

    result = invoke("install")
    assert "not written by us" in result.output
    invoke("uninstall")

    assert unit.read_text() == "[Service]\nExecStart=/usr/bin/true\n"


def test_launchd_plist_shape():
    doc = plistlib.loads(install.launchd_plist("/usr/bin/python3", "/tmp/logs", {"SKILL_INSIGHTS_HOME": "/x"}))
    assert doc["Label"] == install.LAUNCHD_LABEL
    assert doc["ProgramArguments"] == ["/usr/bin/python3", "-P", "-m", "skill_insights", "daemon", "run"]
    assert doc["RunAtLoad"] is True
    assert doc["EnvironmentVariables"] == {"SKILL_INSIGHTS_HOME": "/x"}


def test_systemd_unit_quotes_paths_with_spaces():
    text = install.systemd_unit("/opt/my python/bin/python", {"CLAUDE_CONFIG_DIR": "/a b"})
    assert 'ExecStart="/opt/my python/bin/python" -P -m skill_insights daemon run' in text
    assert 'Environment="CLAUDE_CONFIG_DIR=/a b"' in text


# -- the pure merge -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "original",
    [
        {},
        ORIGINAL,
        {"hooks": {"SessionEnd": [{"matcher": "", "hooks": [{"type": "command", "command": "a"}]}]}},
        {"hooks": {"Stop": []}, "x": None},
    ],
)
def test_merge_is_idempotent_and_remove_is_its_inverse(original):
    commands = {e: install.hook_command(a) for e, a in install.EVENTS.items()}
    once = install.merge_hooks(original, commands)
    assert install.merge_hooks(once, commands) == once
    assert install.remove_hooks(once) == original
    assert install.remove_hooks(original) == original


# -- packaging ------------------------------------------------------------------------------------------------


def test_packaged_service_templates_match_what_install_writes():
    unit = (ROOT / "packaging" / "systemd" / "skill-insights.service").read_text()
    assert unit.replace("@PYTHON@", "/usr/bin/python3") == install.systemd_unit("/usr/bin/python3", {})
    plist = (ROOT / "packaging" / "launchd" / f"{install.LAUNCHD_LABEL}.plist").read_bytes()
    assert plist == install.launchd_plist("@PYTHON@", "@LOG_DIR@", {})


def test_plugin_and_marketplace_manifests():
    marketplace = json.loads((ROOT / ".claude-plugin" / "marketplace.json").read_text())
    assert marketplace["owner"]["name"]
    (entry,) = marketplace["plugins"]
    plugin_root = ROOT / entry["source"]
    assert entry["source"].startswith("./")
    plugin = json.loads((plugin_root / ".claude-plugin" / "plugin.json").read_text())
    assert plugin["name"] == entry["name"] == "skill-insights"

    hooks = json.loads((plugin_root / "hooks" / "hooks.json").read_text())["hooks"]
    assert set(hooks) == set(install.EVENTS)
    for event, arg in install.EVENTS.items():
        (group,) = hooks[event]
        (hook,) = group["hooks"]
        assert hook["type"] == "command"
        assert "${CLAUDE_PLUGIN_ROOT}/hooks/run-hook.sh" in hook["command"]
        assert hook["command"].endswith(f" {arg}")
    assert (plugin_root / "hooks" / "run-hook.sh").is_file()


def test_plugin_hook_script_runs_the_hook(paths, monkeypatch):
    # With the console script on PATH, the plugin's script runs the real hook (exit 0, a log line).
    script_dir = Path(sys.executable).parent
    cli_path = Path(sys.argv[0]).parent / "skill-insights"
    bin_dir = cli_path.parent if cli_path.exists() else script_dir
    if not (bin_dir / "skill-insights").exists():
        pytest.skip("no skill-insights console script next to the interpreter")
    plugin_root = ROOT / "packaging" / "claude-plugin"
    command = f'sh "{plugin_root}/hooks/run-hook.sh" session-end'
    result = subprocess.run(
        ["/bin/sh", "-c", command],
        input=b"garbage",
        capture_output=True,
        timeout=60,
        env=dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin"),
    )
    assert result.returncode == 0 and result.stdout == b""
    assert "not a JSON object" in Path(locations.hook_log()).read_text()


@pytest.mark.parametrize("command", ["install", "uninstall"])
def test_settings_that_is_not_a_regular_file_is_refused(paths, command):
    # Regression: `install --settings /dev/null` replaced /dev/null with a regular file (and wrote a .bak next
    # to it); a FIFO also blocked the read.
    fifo = paths.root / "settings-fifo"
    os.mkfifo(fifo)
    # A subprocess with a timeout: the unfixed code blocks forever reading the FIFO.
    result = subprocess.run(
        [sys.executable, "-m", "skill_insights", command, "--no-service", "--settings", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert result.returncode != 0 and result.stdout == ""
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert fifo.is_fifo()
    assert sorted(p.name for p in paths.root.iterdir() if p.name.startswith("settings")) == ["settings-fifo"]
    folder = paths.root / "settings-dir"
    folder.mkdir()
    with pytest.raises(install.SettingsError, match="directory"):
        install.update_settings(folder, lambda doc: {**doc, "x": 1})
    assert folder.is_dir() and not any(folder.iterdir())


def _plugin_hook(event: str, home: Path, path: str, stdin: bytes = b"{}") -> subprocess.CompletedProcess:
    plugin_root = ROOT / "packaging" / "claude-plugin"
    env = {"HOME": str(home), "PATH": path, "SKILL_INSIGHTS_HOME": os.environ["SKILL_INSIGHTS_HOME"]}
    return subprocess.run(
        ["/bin/sh", "-c", f'sh "{plugin_root}/hooks/run-hook.sh" {event}'],
        input=stdin,
        capture_output=True,
        timeout=60,
        env=env,
    )


def test_plugin_hook_finds_the_tool_where_pipx_and_uv_put_it(paths):
    # Claude Code's PATH without ~/.local/bin: the script still finds the tool there.
    home = paths.home
    bin_dir = home / ".local" / "bin"
    bin_dir.mkdir(parents=True)
    called = paths.root / "called"
    (bin_dir / "skill-insights").write_text(f'#!/bin/sh\necho "$@" > {called}\n')
    (bin_dir / "skill-insights").chmod(0o755)
    result = _plugin_hook("session-end", home, "/usr/bin:/bin")
    assert result.returncode == 0 and result.stdout == b""
    assert called.read_text().strip() == "hook session-end"


def test_plugin_hook_without_the_tool_tells_the_user_once(paths):
    home = paths.home
    home.mkdir(exist_ok=True)
    first = _plugin_hook("session-start", home, "/usr/bin:/bin")
    assert first.returncode == 0
    message = json.loads(first.stdout)["systemMessage"]
    assert "not found" in message and "pipx install skill-insights" in message
    again = _plugin_hook("session-start", home, "/usr/bin:/bin")
    end = _plugin_hook("session-end", home, "/usr/bin:/bin")
    assert again.returncode == end.returncode == 0 and again.stdout == end.stdout == b""
