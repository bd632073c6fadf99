"""The old tool's tables, in its order: the keys of one of its own exports
(tests/data/node-export-1.0.json). The one place the tests take the 16 tables'
order from; the tool itself derives it from the models (datatransfer/graph.py)."""

import json
from pathlib import Path

NODE_EXPORT = Path(__file__).resolve().parent / "data" / "node-export-1.0.json"
OLD_TOOL_ORDER = list(json.loads(NODE_EXPORT.read_text(encoding="utf-8"))["data"])
