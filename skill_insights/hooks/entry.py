"""The script the installed hook runs: `python -S …/entry.py session-start|session-end`.

Kept tiny because a script run as __main__ is compiled on every run; the work is in fastpath.py, which is
imported (and so cached as bytecode) from this folder, not through the skill_insights package.
"""

import sys

from fastpath import main  # type: ignore[import-not-found]  # this folder is sys.path[0]

sys.exit(main(sys.argv[1:]))
