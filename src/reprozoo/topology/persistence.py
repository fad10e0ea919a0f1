"""Persistence diagrams and Betti numbers of binary structure masks (TopoGAN spec §4.1).

Conventions used throughout :mod:`reprozoo.topology`:

* a *mask* is a boolean array ``[H, W]`` with ``True`` = structure (membrane, road), ``False`` =
  background; :func:`binarise` turns a generator output (structure dark, ``<= threshold``) into one;
* the *frame* is a 1-pixel ring of structure added around the mask, so that every branch that
  reaches the border closes a hole (relative homology, paper Fig. 2); it is on by default and must
  be applied identically to real and synthetic masks;
* the filtration is the Euclidean distance transform ``f(p) = min_{q structure} |p - q|``
  (structure pixels have ``f = 0``), and persistence is sublevel cubical persistence with pixels as
  top-dimensional cells, so structure is 8-connected and holes are 4-connected.

Dimension 0 (structure components; the code's choice for Retina vessels) uses the *same* sublevel filtration of the
same distance transform, not a superlevel one: ``{f <= t}`` is the structure grown by ``t``, so every component is
born at 0 and dies when its growth touches another component's, at about half the gap between them (``ceil(w / 2)``
for an axis-aligned gap of ``w`` pixels, as the dim-1 births). Hence:

* births are all 0 and carry nothing; distances compare deaths (``distances.dimension_projection``);
* the critical pixel is the *death* pixel, the background saddle where two components merge (a bridge painted
  through it joins them); the birth pixel is a pixel of the component the elder rule retires, which among components
  all born at 0 is gudhi's tie-break (it can be the frame) and is not used;
* with the frame, every component touching the border is one with the frame (relative homology, as for dim 1), so
  the finite points are the *islands*, the components that do not reach the border; the one surviving (essential)
  class is excluded, so ``len(diagram) = beta_0 - 1`` with ``beta_0`` from :func:`betti_numbers` (which counts the
  frame's component; without the frame, the mask's own components).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import gudhi
import numpy as np
from scipy import ndimage

__all__ = [
    "Diagram",
    "DiagramPool",
    "betti_number",
    "betti_numbers",
    "binarise",
    "cubical_diagram",
    "diagram",
    "diagrams",
    "distance_transform",
]

_FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)
_EIGHT_CONNECTED = ndimage.generate_binary_structure(2, 2)


@dataclass(frozen=True, eq=False)
class Diagram:
    """Finite points of one persistence diagram, with the pixel that creates and kills each.

    Attributes:
        pairs: float64 ``[m, 2]``, one ``(birth, death)`` row per point, sorted by birth then death.
            Essential classes (infinite death) are excluded.
        birth_pixels: int64 ``[m, 2]``, ``(row, col)`` of the pixel whose filtration value is the
            birth: for dim 1 the saddle / critical pixel ``s_x`` of an almost-hole; for dim 0 a pixel of the
            retired component (an arbitrary one among ties, see the module docstring).
        death_pixels: int64 ``[m, 2]``, ``(row, col)`` of the pixel whose value is the death: for dim 0 the
            critical pixel, the background saddle where the component merges into another.
        dim: homology dimension (1 = loops/holes, 0 = components).
    """

    pairs: np.ndarray
    birth_pixels: np.ndarray
    death_pixels: np.ndarray
    dim: int = 1

    @property
    def births(self) -> np.ndarray:
        """Birth values, float64 ``[m]``."""
        return self.pairs[:, 0]

    @property
    def deaths(self) -> np.ndarray:
        """Death values, float64 ``[m]``."""
        return self.pairs[:, 1]

    @property
    def persistence(self) -> np.ndarray:
        """``death - birth``, float64 ``[m]``."""
        return self.pairs[:, 1] - self.pairs[:, 0]

    def __len__(self) -> int:
        return int(self.pairs.shape[0])

    def filtered(self, min_persistence: float) -> Diagram:
        """Keep the points with persistence strictly greater than ``min_persistence``."""
        keep = self.persistence > min_persistence
        return Diagram(self.pairs[keep], self.birth_pixels[keep], self.death_pixels[keep], self.dim)


def binarise(images: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Structure mask of grey images whose structure is dark: ``images <= threshold``.

    Args:
        images: float array of any shape, e.g. ``[H, W]`` or ``[B, H, W]`` tanh outputs in
            ``[-1, 1]`` (real uint8 masks map to that range by ``(x - 127.5) / 127.5``).
        threshold: the code's ``image_watershed`` tau.

    Returns:
        bool array of the same shape, ``True`` = structure.
    """
    return np.asarray(images) <= threshold


def _check_mask(mask: np.ndarray, ndim: int) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(
            f"expected a boolean structure mask (True = structure), got dtype {mask.dtype}; "
            "use reprozoo.topology.binarise() on grey images"
        )
    if mask.ndim != ndim:
        raise ValueError(f"expected a {ndim}-D mask, got shape {mask.shape}")
    return mask


def distance_transform(mask: np.ndarray, frame: bool = True) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest structure pixel (paper Def. 1).

    Args:
        mask: bool ``[H, W]``, ``True`` = structure.
        frame: pad a 1-pixel ring of structure first.

    Returns:
        float64 ``[H + 2, W + 2]`` with ``frame``, else ``[H, W]``; 0 on structure.
    """
    mask = _check_mask(mask, 2)
    if frame:
        mask = np.pad(mask, 1, constant_values=True)
    elif not mask.any():
        raise ValueError("the mask has no structure pixel and frame=False: the distance is undefined")
    return ndimage.distance_transform_edt(~mask)


def cubical_diagram(function: np.ndarray, dim: int = 1) -> Diagram:
    """Sublevel-set cubical persistence of a 2-D scalar field, pixels as top-dimensional cells.

    gudhi returns the creator and destructor cells as indices into the field flattened in Fortran
    (column-major) order; they are converted to ``(row, col)`` here.

    Args:
        function: float ``[H, W]`` filtration values.
        dim: homology dimension, 0 or 1.

    Returns:
        the finite points of dimension ``dim`` (zero-persistence pairs are not reported), with
        pixels in ``function``'s coordinates.
    """
    if dim not in (0, 1):
        raise ValueError(f"dim must be 0 or 1 for 2-D images, got {dim}")
    function = np.asarray(function, dtype=np.float64)
    if function.ndim != 2:
        raise ValueError(f"expected a 2-D function, got shape {function.shape}")
    complex_ = gudhi.CubicalComplex(top_dimensional_cells=function)
    complex_.compute_persistence(homology_coeff_field=2)
    regular, _essential = complex_.cofaces_of_persistence_pairs()
    cells = np.asarray(regular[dim] if len(regular) > dim else [], dtype=np.int64).reshape(-1, 2)
    birth_rc = np.stack(np.unravel_index(cells[:, 0], function.shape, order="F"), axis=1)
    death_rc = np.stack(np.unravel_index(cells[:, 1], function.shape, order="F"), axis=1)
    pairs = np.stack(
        [function[birth_rc[:, 0], birth_rc[:, 1]], function[death_rc[:, 0], death_rc[:, 1]]], axis=1
    )
    order = np.lexsort((birth_rc[:, 1], birth_rc[:, 0], pairs[:, 1], pairs[:, 0]))
    return Diagram(
        pairs=pairs[order].reshape(-1, 2),
        birth_pixels=birth_rc[order].astype(np.int64).reshape(-1, 2),
        death_pixels=death_rc[order].astype(np.int64).reshape(-1, 2),
        dim=dim,
    )


def diagram(mask: np.ndarray, dim: int = 1, frame: bool = True) -> Diagram:
    """Persistence diagram of a structure mask: (frame) -> distance transform -> cubical persistence.

    Args:
        mask: bool ``[H, W]``, ``True`` = structure.
        dim: 1 for loops (almost-holes have birth > 0, complete holes birth 0), 0 for components (all born at
            0, dying at about half the gap to the nearest other component; islands only, with the frame).
        frame: pad a 1-pixel ring of structure first (spec §4.1 step 2).

    Returns:
        the diagram with pixels in ``mask``'s coordinates. A point created or killed on the frame
        (birth 0 only) has its pixel clipped to the nearest mask pixel; points with birth > 0 are
        always created at a background pixel of ``mask``, so their ``birth_pixels`` are exact.
    """
    mask = _check_mask(mask, 2)
    result = cubical_diagram(distance_transform(mask, frame=frame), dim=dim)
    if not frame:
        return result
    upper = np.array(mask.shape, dtype=np.int64) - 1
    return Diagram(
        pairs=result.pairs,
        birth_pixels=np.clip(result.birth_pixels - 1, 0, upper),
        death_pixels=np.clip(result.death_pixels - 1, 0, upper),
        dim=dim,
    )


def _diagram_chunk(masks: np.ndarray, dim: int, frame: bool) -> list[Diagram]:
    return [diagram(mask, dim=dim, frame=frame) for mask in masks]


class DiagramPool:
    """A persistent process pool that computes the diagrams of a batch of masks in parallel.

    Each call splits the batch into one contiguous chunk per worker. Worker start-up (2-3 s on
    2 cores with ``forkserver``) is paid once, so keep one pool for a whole training run::

        with DiagramPool(workers=2) as pool:
            dgms = diagrams(masks, pool=pool)

    ``forkserver`` (the default) is safe in a process that already runs torch threads; workers
    import only numpy, scipy and gudhi.
    """

    def __init__(self, workers: int = 2, start_method: str = "forkserver") -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._pool = multiprocessing.get_context(start_method).Pool(workers)

    def diagrams(self, masks: np.ndarray, dim: int = 1, frame: bool = True) -> list[Diagram]:
        """Diagrams of bool masks ``[B, H, W]``; same result as :func:`diagram` on each mask."""
        masks = _check_mask(masks, 3)
        chunks = [chunk for chunk in np.array_split(masks, self.workers) if len(chunk)]
        results = self._pool.starmap(_diagram_chunk, [(chunk, dim, frame) for chunk in chunks])
        return [dgm for chunk_result in results for dgm in chunk_result]

    def close(self) -> None:
        """Stop the workers."""
        self._pool.terminate()
        self._pool.join()

    def __enter__(self) -> DiagramPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def diagrams(
    masks: np.ndarray | Sequence[np.ndarray],
    dim: int = 1,
    frame: bool = True,
    pool: DiagramPool | None = None,
) -> list[Diagram]:
    """Diagrams of a batch of bool masks ``[B, H, W]``, in batch order.

    With ``pool`` the batch is spread over its worker processes (about 1.6x faster on 2 cores at
    64x64, batch 32; see ``benchmarks/RESULTS.md``); without, a plain loop over :func:`diagram`.
    """
    masks = _check_mask(np.asarray(masks), 3)
    if pool is not None:
        return pool.diagrams(masks, dim=dim, frame=frame)
    return _diagram_chunk(masks, dim, frame)


def betti_numbers(masks: np.ndarray, dim: int = 1, frame: bool = True) -> np.ndarray:
    """Betti numbers of a batch of masks by connected-component labelling (no persistence).

    ``beta_1`` counts the holes: 4-connected background components that do not reach the outside
    (with the frame, every background component). ``beta_0`` counts 8-connected structure
    components (with the frame, everything touching the border is one component with it). These
    equal the numbers of points born at 0 in :func:`diagram` (plus the essential class for dim 0).

    Args:
        masks: bool ``[B, H, W]``, ``True`` = structure.
        dim: 0 or 1.
        frame: as in :func:`diagram`.

    Returns:
        int64 ``[B]``.
    """
    masks = _check_mask(masks, 3)
    if dim not in (0, 1):
        raise ValueError(f"dim must be 0 or 1, got {dim}")
    padded = np.pad(masks, ((0, 0), (1, 1), (1, 1)), constant_values=frame)
    foreground, plane = (~padded, _FOUR_CONNECTED) if dim == 1 else (padded, _EIGHT_CONNECTED)
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = plane  # no connection across the batch axis
    labels, _ = ndimage.label(foreground, structure=structure)
    # Labels are assigned in scan order, so image i owns the range (max label before i, max of i].
    running_max = np.maximum.accumulate(labels.reshape(len(masks), -1).max(axis=1))
    counts = np.diff(running_max, prepend=0).astype(np.int64)
    if dim == 1 and not frame:
        counts -= 1  # the outer background ring added by the padding is not a hole
    return counts


def betti_number(mask: np.ndarray, dim: int = 1, frame: bool = True) -> int:
    """Betti number of one bool mask ``[H, W]``; see :func:`betti_numbers`."""
    mask = _check_mask(mask, 2)
    return int(betti_numbers(mask[None], dim=dim, frame=frame)[0])
