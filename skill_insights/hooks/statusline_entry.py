"""The script the installed statusLine runs: `python -S -E …/statusline_entry.py [--format F]`.

Kept tiny because a script run as __main__ is compiled on every run; the work is in statusline.py, imported
(and so cached as bytecode) from this folder, not through the skill_insights package.
"""

import sys

from statusline import main  # type: ignore[import-not-found]  # this folder is sys.path[0]

sys.exit(main(sys.argv[1:]))
