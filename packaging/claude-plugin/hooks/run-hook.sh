#!/bin/sh
# The plugin's hook: runs `skill-insights hook <event>` from the installed Python package.
# A plugin cannot know where the package was installed, so this goes through the console script, which runs
# the same stdlib-only hook code without importing click (~15 ms where `skill-insights install` writes ~10 ms).
# Use one of the two ways, not both: with both, every hook runs twice (harmless, just wasted time).
# Never fails. Claude Code's PATH often lacks the folder pipx and `uv tool` install into, so that folder is
# tried too; without the tool anywhere, the first SessionStart tells the user (a systemMessage), once.
find_tool() {
    if command -v skill-insights >/dev/null 2>&1; then
        command -v skill-insights
        return 0
    fi
    for dir in "${PIPX_BIN_DIR:-}" "${UV_TOOL_BIN_DIR:-}" "${XDG_BIN_HOME:-}" "${HOME:-/nonexistent}/.local/bin" \
               "${HOME:-/nonexistent}/Library/Application Support/pipx/bin" /opt/homebrew/bin /usr/local/bin; do
        if [ -n "$dir" ] && [ -x "$dir/skill-insights" ]; then
            printf '%s\n' "$dir/skill-insights"
            return 0
        fi
    done
    return 1
}
tool=$(find_tool) || tool=""
if [ -n "$tool" ]; then
    "$tool" hook "$1"
    exit 0
fi
if [ "$1" = "session-start" ]; then
    state="${XDG_STATE_HOME:-${HOME:-/tmp}/.local/state}/skill-insights"
    if [ ! -e "$state/plugin-warned" ]; then
        mkdir -p "$state" 2>/dev/null && : > "$state/plugin-warned" 2>/dev/null
        printf '%s\n' '{"systemMessage": "skill-insights plugin: the skill-insights command was not found (not on PATH, nor in ~/.local/bin), so this session is not captured. Install it with `pipx install skill-insights` or `uv tool install skill-insights`."}'
    fi
fi
exit 0
