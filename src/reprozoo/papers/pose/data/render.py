"""Pose sampling and a small numpy/OpenCV renderer for the ToyDrone data (spec §6.2).

Camera convention as in :mod:`reprozoo.geometry.camera`: `X_cam = R @ X_obj + t`, the camera looks down +z with
+y down the image, pixel (u, v) = (column, row) with integer values at pixel centres.

The renderer is a painter's algorithm: faces are moved to camera space, back faces culled, the rest sorted far to
near (by convex part) and filled with `cv2.fillConvexPoly` at 2× resolution (Lambert shading, random light) over
a random background, downsampled with `INTER_AREA`; then photometric jitter and Gaussian noise are applied.
Every random number comes from the caller's generator in a fixed order that does not depend on the mesh or the
pose, so a model without faces renders exactly the background of the same call.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from reprozoo.geometry.camera import project_points_np
from reprozoo.papers.pose.data.drone_model import DroneModel

YAW_RANGE_DEG = (-180.0, 180.0)
TILT_RANGE_DEG = (-30.0, 30.0)  # pitch and roll
DEPTH_RANGE_M = (0.6, 2.5)
MAX_POSE_TRIES = 1000
SUPERSAMPLE = 2
SUBPIXEL_BITS = 4  # fixed-point fraction bits passed to cv2.fillConvexPoly
NEAR_M = 0.05  # faces with a vertex closer than this are not drawn
NOISE_SIGMA = 2.0  # Gaussian pixel noise, in 0..255 units (σ = 2/255)

# Object frame (+y up, +z front) to a camera looking at the drone level from its front: +y → up the image (−y_cam),
# +z → towards the camera (−z_cam).
_FRONT_VIEW = np.diag([1.0, -1.0, -1.0])


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def pose_from_angles(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Object→camera rotation [3, 3] for a drone heading `yaw` (about its up axis), seen from elevation `pitch`
    (about the camera x axis; > 0 shows the top) with in-plane camera `roll` (about the optical axis).

    All zero is the upright front view: object +y (up) maps to camera −y (up the image), +z (front) to −z
    (towards the camera).
    """
    return (
        _rot_z(math.radians(roll_deg))
        @ _rot_x(math.radians(pitch_deg))
        @ _FRONT_VIEW
        @ _rot_y(math.radians(yaw_deg))
    )


def _feasible_interval(
    offsets: np.ndarray, depths: np.ndarray, f: float, c: float, lo: float, hi: float
) -> tuple[float, float]:
    """Interval of a translation component s such that lo ≤ f·(offsets + s)/depths + c ≤ hi for every point [n]."""
    bound_a = (lo - c) * depths / f - offsets
    bound_b = (hi - c) * depths / f - offsets
    return float(np.max(np.minimum(bound_a, bound_b))), float(np.min(np.maximum(bound_a, bound_b)))


def sample_pose(
    rng: np.random.Generator,
    model: DroneModel,
    K: np.ndarray,
    width: int,
    height: int,
    *,
    margin_px: float = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a random visible pose of `model` for the camera `K` [3, 3] and a `width`×`height` image.

    Yaw ~ U(−180°, 180°), pitch, roll ~ U(−30°, 30°) (see :func:`pose_from_angles`), t_z ~ U(0.6, 2.5) m;
    then t_x and t_y uniform over the set that keeps all 9 keypoints inside [margin, width − 1 − margin] ×
    [margin, height − 1 − margin] (pixel-centre coordinates). When that set is empty the whole pose is
    redrawn. The same depth range serves both drones: it gives keypoint widths of ≈ 22–92 px ("large") and
    ≈ 5–20 px ("small") at 160×120 with the 64.69° camera, the M2ED-vs-Tello scale gap.

    Returns:
        R [3, 3] object→camera rotation and t [3] translation (metres).
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    for _ in range(MAX_POSE_TRIES):
        yaw, pitch, roll, tz = (
            rng.uniform(*YAW_RANGE_DEG),
            rng.uniform(*TILT_RANGE_DEG),
            rng.uniform(*TILT_RANGE_DEG),
            rng.uniform(*DEPTH_RANGE_M),
        )
        R = pose_from_angles(yaw, pitch, roll)
        rotated = model.keypoints @ R.T
        depths = rotated[:, 2] + tz
        if np.min(depths) <= NEAR_M:
            continue
        x_lo, x_hi = _feasible_interval(rotated[:, 0], depths, fx, cx, margin_px, width - 1 - margin_px)
        y_lo, y_hi = _feasible_interval(rotated[:, 1], depths, fy, cy, margin_px, height - 1 - margin_px)
        if x_lo <= x_hi and y_lo <= y_hi:
            return R, np.array([rng.uniform(x_lo, x_hi), rng.uniform(y_lo, y_hi), tz])
    raise RuntimeError(f"no pose keeps {model.name!r} inside a {width}x{height} image after {MAX_POSE_TRIES} tries")


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Random clutter [height, width, 3] uint8: low-frequency colour noise, rectangles and lines.

    Colours are a random base colour plus bounded per-channel offsets, so scenes are varied but not neon.
    """
    grid = rng.integers(2, 6, size=2)
    base = rng.uniform(40, 210, size=3)
    base = base.mean() + rng.uniform(0.2, 0.9) * (base - base.mean())  # partly desaturated
    noise = np.clip(base + rng.uniform(15, 60) * (rng.random((grid[0], grid[1], 3)) * 2 - 1), 0, 255)
    image = cv2.resize(noise.astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    n_rects, n_lines = rng.integers(1, 7), rng.integers(0, 6)
    rects = rng.random((n_rects, 4)) * [width, height, width, height]
    rect_colours = np.clip(base + rng.uniform(-100, 100, size=(n_rects, 3)), 0, 255)
    rect_thickness = np.where(rng.random(n_rects) < 0.6, -1, rng.integers(1, 4, size=n_rects) * SUPERSAMPLE)
    for (x0, y0, x1, y1), colour, thick in zip(rects.astype(int), rect_colours, rect_thickness, strict=True):
        cv2.rectangle(image, (int(x0), int(y0)), (int(x1), int(y1)), colour.tolist(), int(thick))
    lines = rng.random((n_lines, 4)) * [width, height, width, height]
    line_colours = np.clip(base + rng.uniform(-120, 120, size=(n_lines, 3)), 0, 255)
    line_thickness = rng.integers(1, 4, size=n_lines) * SUPERSAMPLE
    for (x0, y0, x1, y1), colour, thick in zip(lines.astype(int), line_colours, line_thickness, strict=True):
        cv2.line(image, (int(x0), int(y0)), (int(x1), int(y1)), colour.tolist(), int(thick), cv2.LINE_AA)
    return image


def _random_light(rng: np.random.Generator) -> tuple[np.ndarray, float, float, np.ndarray]:
    """A random light: unit direction [3] towards it in camera space (on the camera's side, mostly from above the
    image), ambient and diffuse strengths, and an RGB tint [3]."""
    direction = np.array([rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 0.4), rng.uniform(-1.0, -0.2)])
    direction /= np.linalg.norm(direction)
    ambient = rng.uniform(0.35, 0.6)
    diffuse = rng.uniform(0.45, 0.8)
    tint = rng.uniform(0.85, 1.0, size=3)
    return direction, ambient, diffuse, tint


def _draw_mesh(
    image: np.ndarray,
    model: DroneModel,
    R: np.ndarray,
    t: np.ndarray,
    K: np.ndarray,
    light: tuple[np.ndarray, float, float, np.ndarray],
) -> None:
    """Paint the visible faces of `model` under pose (R, t) into `image` [H, W, 3] uint8 (in place).

    Whole convex parts are painted far to near by the camera distance of their centre; within a convex part the
    visible faces do not overlap, so their order does not matter.
    """
    if len(model.faces) == 0:
        return
    cam = model.vertices @ R.T + t
    tri = cam[model.faces]  # [F, 3, 3]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    front = (np.einsum("ij,ij->i", normals, tri[:, 0]) < 0) & np.all(tri[:, :, 2] > NEAR_M, axis=1)
    if not front.any():
        return
    n_parts = int(model.face_parts.max()) + 1
    centres = np.zeros((n_parts, 3))
    np.add.at(centres, model.face_parts, tri.mean(axis=1))
    centres /= np.bincount(model.face_parts, minlength=n_parts)[:, None]
    distance = np.linalg.norm(centres, axis=1)[model.face_parts]
    idx = np.flatnonzero(front)
    idx = idx[np.argsort(-distance[idx], kind="stable")]
    direction, ambient, diffuse, tint = light
    unit = normals[idx] / np.linalg.norm(normals[idx], axis=1, keepdims=True)
    shade = ambient + diffuse * np.clip(unit @ direction, 0.0, None)
    colours = np.clip(model.face_colors[idx] * shade[:, None] * tint, 0, 255).astype(np.uint8).tolist()
    pix = project_points_np(model.vertices, R, t, K)
    fixed = np.round(pix * (1 << SUBPIXEL_BITS)).astype(np.int32)[model.faces[idx]]
    for polygon, colour in zip(fixed, colours, strict=True):
        cv2.fillConvexPoly(image, polygon, colour, cv2.LINE_8, SUBPIXEL_BITS)


def render(
    model: DroneModel,
    R: np.ndarray,
    t: np.ndarray,
    K: np.ndarray,
    width: int,
    height: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Render `model` under pose R [3, 3], t [3] with intrinsics K [3, 3] into an RGB image [height, width, 3] uint8.

    Background, light, photometric jitter and noise are drawn from `rng`; the result is a pure function of the
    arguments and the generator's state.
    """
    big_w, big_h = width * SUPERSAMPLE, height * SUPERSAMPLE
    # Pixel centre u of the output is the centre of a SUPERSAMPLE×SUPERSAMPLE block: u_big = S·u + (S − 1)/2.
    shift = (SUPERSAMPLE - 1) / 2
    scale = np.array([[SUPERSAMPLE, 0.0, shift], [0.0, SUPERSAMPLE, shift], [0.0, 0.0, 1.0]])
    canvas = _background(rng, big_w, big_h)
    light = _random_light(rng)
    gain = rng.uniform(0.9, 1.1, size=3) * rng.uniform(0.8, 1.2)
    offset = rng.uniform(-20.0, 20.0)
    noise = rng.standard_normal((height, width, 3), dtype=np.float32) * NOISE_SIGMA
    _draw_mesh(canvas, model, R, t, scale @ K, light)
    small = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    small *= gain.astype(np.float32)
    small += np.float32(offset) + noise
    return np.clip(small, 0, 255).astype(np.uint8)

