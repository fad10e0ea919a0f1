"""Keypoints → 6-DoF pose with OpenCV's PnP, batched over samples, failures flagged rather than hidden.

Each sample is solved with the chosen method and with the other solvers (SQPnP, EPnP); the solution kept is the one
with the least reprojection error, the chosen method winning ties. A local solver started badly can otherwise stop in
a far worse minimum (on noisy predicted keypoints, OpenCV's ITERATIVE was seen returning a pose kilometres away while
SQPnP reprojected better), and one such pose dominates every mean. A solution is rejected when OpenCV reports a
failure, when it is not finite, or when any 3D keypoint lands behind the camera. Samples without an accepted solution
get the identity rotation and a translation of 1 m straight ahead, so they count as misses in every metric, and the
failure rate is reported separately.
"""

from __future__ import annotations

import cv2
import numpy as np

FLAGS = {"iterative": cv2.SOLVEPNP_ITERATIVE, "epnp": cv2.SOLVEPNP_EPNP, "sqpnp": cv2.SOLVEPNP_SQPNP}


def _solve(points3d: np.ndarray, points2d: np.ndarray, K: np.ndarray, flag: int) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(R [3,3], t [3], RMS reprojection error in px) or None when the solver fails or the pose is implausible."""
    try:
        ok, rvec, tvec = cv2.solvePnP(points3d, points2d, K, None, flags=flag)
    except cv2.error:
        return None
    if not ok or not (np.isfinite(rvec).all() and np.isfinite(tvec).all()):
        return None
    R = cv2.Rodrigues(rvec)[0]
    t = tvec.reshape(3)
    camera = points3d @ R.T + t
    if (camera[:, 2] <= 0).any():
        return None
    projected = camera @ K.T
    rms = float(np.sqrt(np.mean(np.sum((projected[:, :2] / projected[:, 2:] - points2d) ** 2, axis=1))))
    return (R, t, rms) if np.isfinite(rms) else None


def solve_poses(keypoints2d: np.ndarray, keypoints3d: np.ndarray, K: np.ndarray, method: str = "iterative") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poses of every sample: the least-reprojection-error solution among `method` and the other OpenCV solvers.

    Args:
        keypoints2d: [B, n, 2] pixels.
        keypoints3d: [n, 3] metres.
        K: [3, 3] intrinsics.
        method: "iterative" | "epnp" | "sqpnp" (OpenCV solvers), tried first.
    Returns:
        R [B, 3, 3], t [B, 3], ok [B] bool.
    """
    flags = [FLAGS[method], *(flag for name, flag in FLAGS.items() if name != method)]
    pts3d = np.ascontiguousarray(keypoints3d, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    B = len(keypoints2d)
    R = np.tile(np.eye(3), (B, 1, 1))
    t = np.tile(np.array([0.0, 0.0, 1.0]), (B, 1))
    ok = np.zeros(B, dtype=bool)
    for i in range(B):
        pts2d = np.ascontiguousarray(keypoints2d[i], dtype=np.float64)
        solutions = [s for s in (_solve(pts3d, pts2d, K, flag) for flag in flags) if s is not None]
        if solutions:
            R[i], t[i], _ = min(solutions, key=lambda solution: solution[2])  # min keeps the first (the method) on ties
            ok[i] = True
    return R, t, ok
