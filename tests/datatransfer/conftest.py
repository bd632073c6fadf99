from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def node_file():
    """A format 1.0 file as the Node.js tool writes it: all 16 tables, the owner cycle,
    a block pointing forward to a later block, dates at midnight, big integers as strings."""
    return str(DATA / "node-export-1.0.json")
