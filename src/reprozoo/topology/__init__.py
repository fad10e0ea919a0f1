"""Topology primitives shared by papers: persistence diagrams of masks, diagram distances, OT
matchings and the differentiable bridge-painting surrogate (TopoGAN spec §4).

The torch-dependent names (:mod:`.surrogate`, :mod:`.loss`) load on first access, so that the
diagram worker processes and metric code importing this package do not pay for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reprozoo.topology.distances import (
    Projection,
    W1Mode,
    birth_w1,
    dimension_projection,
    pairwise_birth_w1,
    projected,
    w1_gaussian_kernel,
)
from reprozoo.topology.matching import SetMatching, match_diagram_sets, match_points
from reprozoo.topology.persistence import (
    Diagram,
    DiagramPool,
    betti_number,
    betti_numbers,
    binarise,
    cubical_diagram,
    diagram,
    diagrams,
    distance_transform,
)

if TYPE_CHECKING:
    from reprozoo.topology.loss import TopoLoss, topo_loss
    from reprozoo.topology.surrogate import (
        PaintPlan,
        SurrogateVariant,
        bridge_pixels,
        plan_bridges,
        surrogate_loss,
    )

_LAZY: dict[str, str] = {
    "PaintPlan": "surrogate",
    "SurrogateVariant": "surrogate",
    "bridge_pixels": "surrogate",
    "plan_bridges": "surrogate",
    "surrogate_loss": "surrogate",
    "TopoLoss": "loss",
    "topo_loss": "loss",
}

__all__ = [
    "Diagram",
    "DiagramPool",
    "PaintPlan",
    "Projection",
    "SetMatching",
    "SurrogateVariant",
    "TopoLoss",
    "W1Mode",
    "betti_number",
    "betti_numbers",
    "binarise",
    "birth_w1",
    "bridge_pixels",
    "cubical_diagram",
    "diagram",
    "diagrams",
    "dimension_projection",
    "distance_transform",
    "match_diagram_sets",
    "match_points",
    "pairwise_birth_w1",
    "plan_bridges",
    "projected",
    "surrogate_loss",
    "topo_loss",
    "w1_gaussian_kernel",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
