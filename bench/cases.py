"""The benchmark's cases, as the measuring (run.py) and the rendering of its results
(report.py) both name them: each reads them here, neither from the other."""

# (key, step, label) in the order of the tables and the plot.
TOOLS = [
    ("dumpdomain", "export", "`dumpdomain`"),
    ("dumpdata", "export", "`dumpdata core --indent 2`"),
    ("pg_dump", "export", "`pg_dump --data-only -Fc`"),
    ("loaddomain", "import (empty)", "`loaddomain`"),
    ("loaddata", "import (empty)", "`loaddata` (foreign keys made deferrable †)"),
    ("pg_restore", "import (empty)", "`pg_restore --data-only --disable-triggers`"),
    ("loaddomain_again", "re-import (unchanged)", "`loaddomain`"),
    ("loaddomain_again_dry", "re-import (unchanged)", "`loaddomain --dry-run`"),
    ("loaddata_again", "re-import (unchanged)", "`loaddata`"),
    ("loaddomain_changed", "import (1 in 10 changed)", "`loaddomain`"),
    ("loaddomain_dry", "dry run (empty)", "`loaddomain --dry-run`"),
]
# Minutes each at scale 400: best of --slow-repeat, and not run at all with --skip-slow.
SLOW = {"loaddata", "loaddata_again"}
# The 10%-changed case: every CHANGE_EVERY-th row (by primary key) of each table an import
# may update gets one column changed, in a copy of the source (CHANGED), which is exported.
CHANGE_EVERY = 10
