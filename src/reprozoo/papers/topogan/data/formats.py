"""Which reader a dataset config's `format` names, with its `reader:` options passed as keyword arguments."""

from __future__ import annotations

import importlib
from pathlib import Path

from reprozoo.errors import ReprozooError
from reprozoo.papers.topogan.data.patches import Source

READERS = {"cremi": "cremi", "isbi2012": "isbi", "maps": "maps", "facade": "facade", "retina": "retina"}


def sources(raw_root: Path, dataset_cfg) -> list[Source]:
    """The full-size masks of the raw dataset at `raw_root`, read as `dataset_cfg.format` says."""
    fmt = str(dataset_cfg.format)
    if fmt not in READERS:
        raise ReprozooError(f"dataset '{dataset_cfg.name}': format '{fmt}' unknown (known: {', '.join(READERS)})")
    module = importlib.import_module(f"reprozoo.papers.topogan.data.{READERS[fmt]}")
    options = dict(dataset_cfg.get("reader") or {})
    return module.sources(raw_root, **options)
