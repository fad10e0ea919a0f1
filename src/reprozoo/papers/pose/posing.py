"""Keypoints → 6-DoF pose with OpenCV's PnP, batched over samples, failures flagged rather than hidden.

A pose is a failure when OpenCV reports one, when it is not finite, or when any 3D keypoint lands behind the camera;
EPnP is tried as a fallback before giving up. Failed samples get the identity rotation and a translation of 1 m
straight ahead, so they count as misses in every metric, and the failure rate is reported separately.
"""

from __future__ import annotations

import cv2
import numpy as np

FLAGS = {"iterative": cv2.SOLVEPNP_ITERATIVE, "epnp": cv2.SOLVEPNP_EPNP, "sqpnp": cv2.SOLVEPNP_SQPNP}


def _solve(points3d: np.ndarray, points2d: np.ndarray, K: np.ndarray, flag: int) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        ok, rvec, tvec = cv2.solvePnP(points3d, points2d, K, None, flags=flag)
    except cv2.error:
        return None
    if not ok or not (np.isfinite(rvec).all() and np.isfinite(tvec).all()):
        return None
    R = cv2.Rodrigues(rvec)[0]
    t = tvec.reshape(3)
    if ((points3d @ R.T + t)[:, 2] <= 0).any():
        return None
    return R, t


def solve_poses(keypoints2d: np.ndarray, keypoints3d: np.ndarray, K: np.ndarray, method: str = "iterative") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poses of every sample.

    Args:
        keypoints2d: [B, n, 2] pixels.
        keypoints3d: [n, 3] metres.
        K: [3, 3] intrinsics.
        method: "iterative" | "epnp" | "sqpnp" (OpenCV solvers).
    Returns:
        R [B, 3, 3], t [B, 3], ok [B] bool.
    """
    flag = FLAGS[method]
    pts3d = np.ascontiguousarray(keypoints3d, dtype=np.float64)
    B = len(keypoints2d)
    R = np.tile(np.eye(3), (B, 1, 1))
    t = np.tile(np.array([0.0, 0.0, 1.0]), (B, 1))
    ok = np.zeros(B, dtype=bool)
    for i in range(B):
        pts2d = np.ascontiguousarray(keypoints2d[i], dtype=np.float64)
        solution = _solve(pts3d, pts2d, K, flag) or (_solve(pts3d, pts2d, K, cv2.SOLVEPNP_EPNP) if flag != cv2.SOLVEPNP_EPNP else None)
        if solution is not None:
            R[i], t[i] = solution
            ok[i] = True
    return R, t, ok
