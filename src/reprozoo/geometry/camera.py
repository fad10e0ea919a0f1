"""Pinhole cameras: intrinsics from a field of view, and projection of 3D points.

Conventions: points are in metres, `R`/`t` map object coordinates to camera coordinates
(`X_cam = R @ X_obj + t`), the camera looks down +z, pixel (u, v) = (column, row).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def intrinsics_from_fov(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Intrinsic matrix [3, 3] of a camera with square pixels and horizontal FOV `hfov_deg`.

    The principal point is the image centre (width/2, height/2); fx = fy = (width/2) / tan(hfov/2).
    """
    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def project_points(points: torch.Tensor, R: torch.Tensor, t: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Project 3D points through a pinhole camera.

    Args:
        points: [..., n, 3] object-frame points (or [n, 3], broadcast over the batch).
        R: [..., 3, 3] object→camera rotations.
        t: [..., 3] object→camera translations.
        K: [..., 3, 3] or [3, 3] intrinsics.
    Returns:
        [..., n, 2] pixel coordinates (u, v).
    """
    cam = points @ R.transpose(-1, -2) + t.unsqueeze(-2)
    pix = cam @ K.transpose(-1, -2)
    return pix[..., :2] / pix[..., 2:3]


def project_points_np(points: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`project_points` for one pose: points [n, 3] → pixels [n, 2]."""
    cam = points @ R.T + t
    pix = cam @ K.T
    return pix[:, :2] / pix[:, 2:3]


def camera_depths_np(points: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Depth (camera z) [n] of object points [n, 3] under pose (R, t)."""
    return (points @ R.T + t)[:, 2]
