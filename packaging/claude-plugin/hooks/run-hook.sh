#!/bin/sh
# The plugin's hook: runs `skill-insights hook <event>` from the installed Python package.
# A plugin cannot know where pip put the package, so this goes through the console script, which runs the
# same stdlib-only hook code without importing click (~15 ms where `skill-insights install` writes ~10 ms).
# Use one of the two ways, not both: with both, every hook runs twice (harmless, just wasted time).
# Never fails: without the package installed it does nothing.
command -v skill-insights >/dev/null 2>&1 || exit 0
skill-insights hook "$1"
exit 0
