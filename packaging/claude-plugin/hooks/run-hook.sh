#!/bin/sh
# The plugin's hook: runs `skill-insights hook <event>` from the installed Python package.
# A plugin cannot know where pip put the package, so this goes through the console script (~100 ms more
# than the command `skill-insights install` writes, which runs the stdlib-only entry script directly).
# Use one of the two ways, not both: with both, every hook runs twice (harmless, just wasted time).
# Never fails: without the package installed it does nothing.
command -v skill-insights >/dev/null 2>&1 || exit 0
skill-insights hook "$1"
exit 0
