"""Preprocess for the pose paper: UAVA layout → one manifest row per sample + the dataset's geometry.

Rows carry what validation checks and training reads: the image path and checksum, whether it decodes and its size,
the pose (rotation row-major, translation), the 2D keypoints in pixels with their extent, the keypoints' minimum
depth, and how far the annotated 2D keypoints are from the projection of the 3D keypoints by the annotated pose
(`reproj_err_px`: catches a pose, camera or keypoint annotation that disagree). The report's filter keeps only samples
whose keypoints are all visible (`visibleAll`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from reprozoo.data.checksums import sha256_file
from reprozoo.geometry.camera import camera_depths_np, intrinsics_from_fov, project_points_np
from reprozoo.papers.pose.data import uava
from reprozoo.papers.pose.data.drone_model import read_obj, sample_surface

SURFACE_POINTS = 500
SURFACE_SEED = 0


def camera_of(raw_root: Path, dataset_cfg) -> dict[str, Any]:
    """The dataset's camera {width, height, hfov_deg}: `camera.json` in the data when present, else the config's."""
    path = raw_root / "camera.json"
    if path.is_file():
        cam = uava.read_json(path)
        return {"width": int(cam["width"]), "height": int(cam["height"]), "hfov_deg": float(cam["hfov_deg"])}
    return {"width": int(dataset_cfg.image.width), "height": int(dataset_cfg.image.height), "hfov_deg": float(dataset_cfg.hfov_deg)}


def _row(raw_root: Path, sample: uava.RawSample, K: np.ndarray, kps3d: np.ndarray, width: int, height: int) -> dict[str, Any]:
    path = raw_root / sample.image
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    decoded_h, decoded_w = image.shape[:2] if image is not None else (0, 0)
    R, t = sample.pose[:3, :3], sample.pose[:3, 3]
    uv = uava.norm_to_pixels(sample.keypoints_norm, width, height)
    finite = bool(np.isfinite(sample.pose).all())
    if finite:
        depth = float(camera_depths_np(kps3d, R, t).min())
        orthonormal = bool(np.abs(R @ R.T - np.eye(3)).max() < 1e-4 and np.linalg.det(R) > 0)
        reproj = float(np.abs(project_points_np(kps3d, R, t, K) - uv).max()) if depth > 0 else float("inf")
    else:
        depth, orthonormal, reproj = float("nan"), False, float("nan")
    return {
        "sample_id": sample.key,
        "path": sample.image.as_posix(),
        "building": sample.building,
        "split": sample.split,
        "drone": sample.drone,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "decodable": image is not None,
        "width": decoded_w,
        "height": decoded_h,
        "rotation": R.reshape(-1).tolist(),
        "t_x": float(t[0]) if np.isfinite(t[0]) else None,
        "t_y": float(t[1]) if np.isfinite(t[1]) else None,
        "t_z": float(t[2]) if np.isfinite(t[2]) else None,
        "pose_finite": finite,
        "rotation_orthonormal": orthonormal,
        "kpts_u": uv[:, 0].tolist(),
        "kpts_v": uv[:, 1].tolist(),
        "kpt_u_min": float(uv[:, 0].min()),
        "kpt_u_max": float(uv[:, 0].max()),
        "kpt_v_min": float(uv[:, 1].min()),
        "kpt_v_max": float(uv[:, 1].max()),
        "min_depth": depth,
        "reproj_err_px": reproj,
        "visible_all": sample.visible_all,
    }


def build_manifest(raw_root: Path, dataset_cfg) -> tuple[pd.DataFrame, dict[str, Any], np.ndarray]:
    """Read a raw pose dataset.

    Returns:
        manifest: one row per kept sample (the `visibleAll` filter applied), sorted by split then sample id.
        info: dataset geometry and counts {name, drone, width, height, hfov_deg, K [3][3], keypoints3d [9][3],
            diameter, mesh, n_raw, n_filtered}.
        surface_points: [500, 3] points sampled on the drone mesh (fixed seed), the vertex set of ADD and Proj.
    """
    drone = str(dataset_cfg.drone)
    cam = camera_of(raw_root, dataset_cfg)
    K = intrinsics_from_fov(cam["width"], cam["height"], cam["hfov_deg"])
    kps3d, diameter = uava.read_keypoints(raw_root, drone)
    diameter = float(dataset_cfg.get("diameter") or diameter)  # the config's value (the report's) wins
    mesh = raw_root / "models" / f"{drone}.obj"
    vertices, faces = read_obj(mesh)
    samples = uava.read_samples(raw_root, drone)
    kept = [s for s in samples if s.visible_all]
    rows = [_row(raw_root, s, K, kps3d, cam["width"], cam["height"]) for s in kept]
    manifest = pd.DataFrame(rows).sort_values(["split", "sample_id"], kind="stable").reset_index(drop=True)
    info = {
        "name": str(dataset_cfg.name),
        "drone": drone,
        **cam,
        "K": K.tolist(),
        "keypoints3d": kps3d.tolist(),
        "diameter": diameter,
        "mesh": mesh.relative_to(raw_root).as_posix(),
        "n_raw": len(samples),
        "n_filtered": len(samples) - len(kept),
    }
    return manifest, info, sample_surface(vertices, faces, SURFACE_POINTS, SURFACE_SEED)


def expectations(info: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The great-expectations suite over a pose manifest, as (Expectation class name, kwargs) pairs."""
    width, height = info["width"], info["height"]
    numeric = ["t_x", "t_y", "t_z", "kpt_u_min", "kpt_u_max", "kpt_v_min", "kpt_v_max", "min_depth", "reproj_err_px"]
    return [
        ("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        ("ExpectColumnValuesToBeUnique", {"column": "sample_id"}),
        ("ExpectColumnValuesToBeInSet", {"column": "split", "value_set": list(uava.SPLITS)}),
        ("ExpectColumnValuesToBeInSet", {"column": "decodable", "value_set": [True]}),
        ("ExpectColumnValuesToBeBetween", {"column": "width", "min_value": width, "max_value": width}),
        ("ExpectColumnValuesToBeBetween", {"column": "height", "min_value": height, "max_value": height}),
        ("ExpectColumnValuesToBeInSet", {"column": "pose_finite", "value_set": [True]}),
        *[("ExpectColumnValuesToNotBeNull", {"column": c}) for c in numeric],
        ("ExpectColumnValuesToBeInSet", {"column": "rotation_orthonormal", "value_set": [True]}),
        ("ExpectColumnValuesToBeBetween", {"column": "t_z", "min_value": 0.05, "max_value": 100.0}),
        ("ExpectColumnValuesToBeBetween", {"column": "min_depth", "min_value": 0.01}),
        ("ExpectColumnValuesToBeBetween", {"column": "kpt_u_min", "min_value": 0.0}),
        ("ExpectColumnValuesToBeBetween", {"column": "kpt_u_max", "max_value": width - 1.0}),
        ("ExpectColumnValuesToBeBetween", {"column": "kpt_v_min", "min_value": 0.0}),
        ("ExpectColumnValuesToBeBetween", {"column": "kpt_v_max", "max_value": height - 1.0}),
        ("ExpectColumnValuesToBeBetween", {"column": "reproj_err_px", "max_value": 1.0}),
        ("ExpectColumnValuesToBeInSet", {"column": "leaks_across_splits", "value_set": [False]}),
    ]
