"""ToyDrone: a procedural stand-in for UAVA that writes UAVA's on-disk layout (see `uava.py`).

Each split gets its own "buildings" (so val/test scenes are unseen, as UAVA's Matterport3D split), each building a
run of rows (samples). A small share of extra samples is drawn with a keypoint outside the frame and
`visibleAll: false`, so the report's filter (keep samples whose keypoints are all inside the image) is exercised:
after filtering each split has exactly the requested size. Deterministic: sample i of split s is rendered from
`default_rng([seed, s, i])`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from reprozoo.geometry.camera import intrinsics_from_fov, project_points_np
from reprozoo.papers.pose.data import uava
from reprozoo.papers.pose.data.drone_model import build_drone, write_obj
from reprozoo.papers.pose.data.render import render, sample_pose

ROWS_PER_BUILDING = 50
DATE = "20261123"
OUTSIDE_EVERY = 33  # one extra out-of-frame sample per 33 kept ones (~3 %)


def _shift_out_of_frame(model_kps: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray, width: int) -> np.ndarray:
    """Translate the drone sideways until its rightmost keypoint lies 4 px past the right edge; returns the new t [3]."""
    uv = project_points_np(model_kps, R, t, K)
    needed_px = (width - 1 - uv[:, 0].max()) + 4.0
    depth = (model_kps @ R.T + t)[:, 2].mean()
    return t + np.array([needed_px * depth / K[0, 0], 0.0, 0.0])


def generate(
    root: Path,
    *,
    drone: str,
    model_kind: str,
    width: int,
    height: int,
    hfov_deg: float,
    splits: dict[str, int],
    seed: int,
    diameter: float | None = None,
    progress: bool = True,
) -> int:
    """Render a ToyDrone dataset into `root` (replaced atomically). Returns the number of frames written.

    `diameter` (metres) is written as the object's ADD threshold base; None uses the mesh's bounding-box diagonal.
    """
    model = build_drone(model_kind)
    K = intrinsics_from_fov(width, height, hfov_deg)
    work = root.with_name(root.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    sequences: dict[str, dict] = {}
    buildings: dict[str, list[str]] = {}
    jobs = []
    for split_index, split in enumerate(uava.SPLITS):
        kept = int(splits.get(split, 0))
        total = kept + kept // OUTSIDE_EVERY
        n_buildings = max(1, -(-total // ROWS_PER_BUILDING))
        buildings[split] = [f"toy{split}{b:03d}" for b in range(n_buildings)]
        jobs.extend((split_index, split, i, i >= kept) for i in range(total))

    for split_index, split, index, outside in tqdm(jobs, desc=f"render {root.name}", disable=not progress):
        rng = np.random.default_rng([seed, split_index, index])
        R, t = sample_pose(rng, model, K, width, height)
        if outside:
            t = _shift_out_of_frame(model.keypoints, R, t, K, width)
        image = render(model, R, t, K, width, height, rng)
        uv = project_points_np(model.keypoints, R, t, K)
        visible = bool(((uv >= 0) & (uv <= np.array([width - 1, height - 1]))).all())
        building = buildings[split][index // ROWS_PER_BUILDING]
        row = f"{index:06d}"
        rel = uava.image_path(drone, building, row, DATE)
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(work / rel), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        corners = _bbox_corners(model.vertices)
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = R, t
        sequences[f"{building}_{row}_{DATE}"] = {
            uava.VIEW: {
                uava.FRAME: {
                    "pose": pose.tolist(),
                    "3dpoints": uava.pixels_to_norm(uv, width, height).tolist(),
                    "2dbbox": _bbox_2d(project_points_np(model.vertices, R, t, K), width, height),
                    "3dbbox": uava.pixels_to_norm(project_points_np(corners, R, t, K), width, height).tolist(),
                    "visibleAll": visible,
                }
            }
        }

    (work / "metadata.json").write_text(json.dumps({"drones": {drone: sequences}}))
    uava.write_split_files(work, buildings)
    (work / "models").mkdir()
    write_obj(model, work / "models" / f"{drone}.obj")
    (work / "keypoints").mkdir()
    (work / "keypoints" / f"{drone}.json").write_text(
        json.dumps({"keypoints": model.keypoints.tolist(), "diameter": diameter or model.diameter}, indent=1)
    )
    (work / "camera.json").write_text(json.dumps({"width": width, "height": height, "hfov_deg": hfov_deg}))
    shutil.rmtree(root, ignore_errors=True)
    work.rename(root)
    return len(jobs)


def _bbox_corners(vertices: np.ndarray) -> np.ndarray:
    """The 8 corners [8, 3] of the axis-aligned box around `vertices` [V, 3]."""
    lo, hi = vertices.min(0), vertices.max(0)
    return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


def _bbox_2d(uv: np.ndarray, width: int, height: int) -> list[float]:
    """Normalised [x0, y0, x1, y1] of projected points [n, 2]."""
    lo = uava.pixels_to_norm(uv.min(0), width, height)
    hi = uava.pixels_to_norm(uv.max(0), width, height)
    return [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]
