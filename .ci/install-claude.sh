#!/usr/bin/env bash
# Install the real Claude Code client (a native binary shipped through npm) for tests/test_e2e_claude.py.
#
#   .ci/install-claude.sh        → installs once into <repo>/.cache/claude-code, prints the binary's path
#
# Idempotent: when the binary is there and reports the pinned version, npm is not run at all. All of npm's
# chatter goes to stderr, so stdout is exactly one line: the path (the test also finds it there by itself).
set -euo pipefail

VERSION="2.1.197"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$ROOT/.cache/claude-code"
BIN="$PREFIX/node_modules/.bin/claude"
PKG_DIR="$PREFIX/node_modules/@anthropic-ai/claude-code"

works() {
  # A throwaway HOME: asking the version must not touch the caller's ~/.claude.
  [ -x "$BIN" ] && HOME="$PREFIX" "$BIN" --version 2>/dev/null | grep -q "^$VERSION "
}

if ! works; then
  command -v npm >/dev/null 2>&1 || { echo "install-claude: npm is not installed" >&2; exit 1; }
  mkdir -p "$PREFIX"
  npm install --prefix "$PREFIX" --no-audit --no-fund "@anthropic-ai/claude-code@$VERSION" >&2
  if ! works && [ -f "$PKG_DIR/install.cjs" ]; then
    # npm skipped the postinstall (e.g. --ignore-scripts in npmrc): it only links the platform binary
    # over the bin/claude.exe placeholder, so run it ourselves.
    (cd "$PKG_DIR" && node install.cjs) >&2
  fi
  works || { echo "install-claude: $BIN does not report version $VERSION" >&2; exit 1; }
fi
echo "$BIN"
