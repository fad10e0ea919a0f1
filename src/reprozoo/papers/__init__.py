"""The papers reprozoo reproduces. Each is a folder with a `PAPER` object; stages look papers up here by id.

Imports are lazy so that `reprozoo --help` and light stages do not pay for torch or Lightning.
"""

from __future__ import annotations

import importlib

from reprozoo.errors import ReprozooError
from reprozoo.papers.base import Paper

PAPER_IDS = ("pose", "topogan")


def get_paper(paper_id: str) -> Paper:
    """The `Paper` object of `paper_id` (e.g. "pose")."""
    if paper_id not in PAPER_IDS:
        raise ReprozooError(f"paper '{paper_id}': unknown (known: {', '.join(PAPER_IDS)})")
    return importlib.import_module(f"reprozoo.papers.{paper_id}").PAPER
