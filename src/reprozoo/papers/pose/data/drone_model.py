"""Procedural quadcopters for the synthetic "ToyDrone" stand-in of UAVA (spec §6.2).

Object frame (metres), following UAVA's keypoint files: **+y is up, +z is front** (the side that carries the
"camera" marker), and "left" motors have **x < 0**, "right" motors x > 0. The labels are UAVA's (Unity, a
left-handed engine); in this right-handed frame a pilot standing behind the drone and facing front has the
"left" motors (x < 0) on their right hand. The labels only name the sign of x; the geometry is what it is.

Keypoints [9, 3]: index 0 is the centroid of the 8 motor points, then the upper/lower cap centres of the four
motors, index = 1 + 4·back + 2·lower + right:

    1 front-upper-left   2 front-upper-right   3 front-lower-left   4 front-lower-right
    5 back-upper-left    6 back-upper-right    7 back-lower-left    8 back-lower-right

The mesh is a union of closed convex parts (body box, front "camera" box, 4 arm boxes, 4 octagonal motor
prisms), each with its own vertices, so every edge is shared by exactly two triangles of one part. Parts touch
but barely overlap (arms run from the body's side to the motor's side), so a painter's sort by part works. Triangles
are counter-clockwise seen from outside, i.e. the normal (v1 − v0) × (v2 − v0) points outward.
Asymmetric marker: the camera box is only at the front, front and back arms (and motor top caps) have different
colours, and the front motors sit higher than the back ones (as on a DJI Mavic), so yaw θ and θ + 180° differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

N_SURFACE_SAMPLES = 500
SURFACE_SAMPLE_SEED = 0


@dataclass(frozen=True)
class DroneModel:
    """A triangle mesh with its 9 pose keypoints.

    Attributes:
        name: "large" (M2ED-like) or "small" (Tello-like).
        vertices: [V, 3] float64 object-frame points, metres.
        faces: [F, 3] int64 vertex indices, counter-clockwise seen from outside.
        face_colors: [F, 3] uint8 RGB base albedo per face.
        face_parts: [F] int64 index of the closed convex part each face belongs to (faces of a part are
            contiguous); the renderer depth-sorts whole parts.
        keypoints: [9, 3] float64 (order in the module docstring).
        surface_samples: [500, 3] float64 points drawn uniformly by area on the mesh surface (fixed seed),
            the vertex set of the ADD / Proj metrics.
        diameter: bounding-box diagonal of the **mesh vertices** (metres), used as ADD's "diag".
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    face_colors: np.ndarray
    face_parts: np.ndarray
    keypoints: np.ndarray
    surface_samples: np.ndarray
    diameter: float


@dataclass(frozen=True)
class _DroneSpec:
    """Dimensions (metres) and palette (RGB) of one procedural drone."""

    front_x: float  # |x| of the front motors
    back_x: float  # |x| of the back motors
    front_z: float
    back_z: float
    front_y: tuple[float, float]  # (upper, lower) cap heights of the front motors
    back_y: tuple[float, float]  # (upper, lower) cap heights of the back motors
    rotor_radius: float  # circumradius of the octagonal motor prisms
    body_half: tuple[float, float, float]  # half extents (x, y, z) of the body box
    body_y: float  # body centre height
    arm_section: tuple[float, float]  # arm (width, height)
    camera_half: tuple[float, float, float]  # half extents of the front camera box
    body_rgb: tuple[int, int, int]
    front_arm_rgb: tuple[int, int, int]
    back_arm_rgb: tuple[int, int, int]
    motor_rgb: tuple[int, int, int]
    front_cap_rgb: tuple[int, int, int]
    back_cap_rgb: tuple[int, int, int]
    camera_rgb: tuple[int, int, int]


# Keypoint boxes as in UAVA: M2ED ≈ 0.436 × 0.125 × 0.330 m with front-upper-left motor (−0.217215, 0.052593,
# 0.112591); Tello ≈ 0.097 × 0.051 × 0.074 m with a motor at (±0.0467, 0.0199, 0.0360).
_SPECS: dict[str, _DroneSpec] = {
    "large": _DroneSpec(
        front_x=0.217215,
        back_x=0.218,
        front_z=0.112591,
        back_z=0.112591 - 0.330,
        front_y=(0.052593, 0.012593),
        back_y=(0.052593 - 0.125 + 0.040, 0.052593 - 0.125),
        rotor_radius=0.062,
        body_half=(0.055, 0.045, 0.125),
        body_y=-0.010,
        arm_section=(0.026, 0.020),
        camera_half=(0.028, 0.024, 0.022),
        body_rgb=(128, 130, 138),
        front_arm_rgb=(225, 75, 35),
        back_arm_rgb=(45, 85, 190),
        motor_rgb=(50, 50, 56),
        front_cap_rgb=(240, 140, 60),
        back_cap_rgb=(150, 170, 215),
        camera_rgb=(250, 210, 20),
    ),
    "small": _DroneSpec(
        front_x=0.0467,
        back_x=0.0485,
        front_z=0.0360,
        back_z=0.0360 - 0.074,
        front_y=(0.0199, 0.0049),
        back_y=(0.0199 - 0.051 + 0.015, 0.0199 - 0.051),
        rotor_radius=0.020,
        body_half=(0.021, 0.018, 0.036),
        body_y=-0.005,
        arm_section=(0.009, 0.007),
        camera_half=(0.010, 0.008, 0.007),
        body_rgb=(228, 228, 222),
        front_arm_rgb=(215, 45, 45),
        back_arm_rgb=(40, 40, 48),
        motor_rgb=(70, 70, 76),
        front_cap_rgb=(240, 90, 80),
        back_cap_rgb=(120, 120, 130),
        camera_rgb=(250, 205, 0),
    ),
}


def _convex_part(points: np.ndarray, triangles: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Orient the triangles [T, 3] of a convex solid with vertices [n, 3] so that their normals point outward."""
    faces = np.asarray(triangles, dtype=np.int64)
    centre = points.mean(axis=0)
    a, b, c = points[faces[:, 0]], points[faces[:, 1]], points[faces[:, 2]]
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a - centre) < 0
    faces[inward] = faces[inward][:, ::-1]
    return points, faces


def _box(centre: np.ndarray, axes: np.ndarray, half: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Box [8, 3] / [12, 3] centred at `centre` [3] with orthonormal edge directions `axes` [3, 3] (rows)."""
    signs = np.array([[(i >> 0) & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)], dtype=np.float64) * 2 - 1
    points = centre + (signs * np.asarray(half)) @ axes
    quads = [(0, 2, 6, 4), (1, 3, 7, 5), (0, 1, 5, 4), (2, 3, 7, 6), (0, 1, 3, 2), (4, 5, 7, 6)]
    triangles = [tri for a, b, c, d in quads for tri in ((a, b, c), (a, c, d))]
    return _convex_part(points, triangles)


def _arm(start: np.ndarray, end: np.ndarray, section: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Box from `start` [3] to `end` [3] with cross-section (width, height), its height axis near +y."""
    along = end - start
    w = along / np.linalg.norm(along)
    u = np.cross(np.array([0.0, 1.0, 0.0]), w)
    u /= np.linalg.norm(u)
    v = np.cross(w, u)
    half = (section[0] / 2, section[1] / 2, float(np.linalg.norm(along)) / 2)
    return _box((start + end) / 2, np.stack([u, v, w]), half)


def _octagonal_prism(x: float, z: float, y_low: float, y_high: float, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertical octagonal prism [16, 3] / [28, 3] whose cap centres are (x, y_high, z) and (x, y_low, z)."""
    angles = (np.arange(8) + 0.5) * (np.pi / 4)
    ring = np.stack([x + radius * np.cos(angles), np.zeros(8), z + radius * np.sin(angles)], axis=1)
    low, high = ring.copy(), ring.copy()
    low[:, 1], high[:, 1] = y_low, y_high
    triangles = [tri for k in range(8) for tri in ((k, (k + 1) % 8, 8 + (k + 1) % 8), (k, 8 + (k + 1) % 8, 8 + k))]
    triangles += [(0, k, k + 1) for k in range(1, 7)] + [(8, 8 + k, 8 + k + 1) for k in range(1, 7)]
    return _convex_part(np.concatenate([low, high]), triangles)


def _keypoints(spec: _DroneSpec) -> np.ndarray:
    """Keypoints [9, 3] in the documented order."""
    motors = []
    for back in (0, 1):
        x_abs, z = (spec.back_x, spec.back_z) if back else (spec.front_x, spec.front_z)
        upper_lower = spec.back_y if back else spec.front_y
        for y in upper_lower:
            for sign in (-1.0, 1.0):  # left (x < 0), then right
                motors.append((sign * x_abs, y, z))
    motor_points = np.asarray(motors, dtype=np.float64)
    return np.concatenate([motor_points.mean(axis=0, keepdims=True), motor_points])


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Points [n, 3] drawn uniformly by area on the triangles `faces` [F, 3] of `vertices` [V, 3].

    A pure function of its arguments (`numpy.random.default_rng(seed)`), so a mesh read back from OBJ gives the
    same points as :attr:`DroneModel.surface_samples`.
    """
    rng = np.random.default_rng(seed)
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    areas = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    chosen = rng.choice(len(faces), size=n, p=areas / areas.sum())
    r1 = np.sqrt(rng.random(n))[:, None]
    r2 = rng.random(n)[:, None]
    return (1 - r1) * a[chosen] + r1 * (1 - r2) * b[chosen] + r1 * r2 * c[chosen]


def build_drone(kind: str) -> DroneModel:
    """Build the procedural quadcopter `kind` ∈ {"large", "small"} (184 triangles; see the module docstring)."""
    if kind not in _SPECS:
        raise ValueError(f"unknown drone kind {kind!r}; expected one of {sorted(_SPECS)}")
    spec = _SPECS[kind]
    keypoints = _keypoints(spec)
    body_centre = np.array([0.0, spec.body_y, (spec.front_z + spec.back_z) / 2])
    bx, by, bz = spec.body_half
    parts: list[tuple[np.ndarray, np.ndarray, tuple[int, int, int] | np.ndarray]] = []  # vertices, faces, RGB
    parts.append((*_box(body_centre, np.eye(3), spec.body_half), spec.body_rgb))
    camera_centre = body_centre + np.array([0.0, -by + spec.camera_half[1], bz + spec.camera_half[2]])
    parts.append((*_box(camera_centre, np.eye(3), spec.camera_half), spec.camera_rgb))
    for back in (0, 1):
        x_abs, z = (spec.back_x, spec.back_z) if back else (spec.front_x, spec.front_z)
        y_high, y_low = spec.back_y if back else spec.front_y
        y_mid = (y_high + y_low) / 2
        # Front arms leave the body near its top, back arms near its bottom (clamped to the body's height).
        y_root = float(np.clip(y_mid, spec.body_y - by * 0.6, spec.body_y + by * 0.6))
        z_root = body_centre[2] + (-1 if back else 1) * bz * 0.55
        for sign in (-1.0, 1.0):
            start = np.array([sign * bx, y_root, z_root])
            motor_axis = np.array([sign * x_abs, y_mid, z])
            towards_body = (start - motor_axis) / np.linalg.norm(start - motor_axis)
            end = motor_axis + towards_body * spec.rotor_radius * np.cos(np.pi / 8)  # on the prism's side
            parts.append((*_arm(start, end, spec.arm_section), spec.back_arm_rgb if back else spec.front_arm_rgb))
            vertices, faces = _octagonal_prism(sign * x_abs, z, y_low, y_high, spec.rotor_radius)
            cap = spec.back_cap_rgb if back else spec.front_cap_rgb
            is_top = np.all(np.isclose(vertices[faces][:, :, 1], y_high), axis=1)
            colours = np.where(is_top[:, None], np.array(cap), np.array(spec.motor_rgb))
            parts.append((vertices, faces, colours))
    all_vertices, all_faces, all_colours, all_parts = [], [], [], []
    offset = 0
    for part, (vertices, faces, rgb) in enumerate(parts):
        all_vertices.append(vertices)
        all_faces.append(faces + offset)
        all_colours.append(np.broadcast_to(np.asarray(rgb, dtype=np.uint8), (len(faces), 3)))
        all_parts.append(np.full(len(faces), part, dtype=np.int64))
        offset += len(vertices)
    vertices = np.concatenate(all_vertices)
    faces = np.concatenate(all_faces)
    return DroneModel(
        name=kind,
        vertices=vertices,
        faces=faces,
        face_colors=np.ascontiguousarray(np.concatenate(all_colours)),
        face_parts=np.concatenate(all_parts),
        keypoints=keypoints,
        surface_samples=sample_surface(vertices, faces, N_SURFACE_SAMPLES, SURFACE_SAMPLE_SEED),
        diameter=float(np.linalg.norm(vertices.max(axis=0) - vertices.min(axis=0))),
    )


def write_obj(model: DroneModel, path: str | Path) -> None:
    """Write the mesh of `model` as a minimal Wavefront OBJ (`v` and 1-based `f` lines; no colours)."""
    lines = [f"# reprozoo ToyDrone {model.name!r}: {len(model.vertices)} vertices, {len(model.faces)} triangles"]
    lines += [f"v {x!r} {y!r} {z!r}" for x, y, z in model.vertices.tolist()]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in model.faces.tolist()]
    Path(path).write_text("\n".join(lines) + "\n")


_IGNORED_OBJ_STATEMENTS = {"vn", "vt", "vp", "o", "g", "s", "mtllib", "usemtl", "l"}


def _obj_error(path: Path, lineno: int, raw: str, reason: str) -> ValueError:
    return ValueError(f"{path}:{lineno}: {reason}: {raw.strip()!r}")


def read_obj(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read vertices [V, 3] float64 and triangles [F, 3] int64 (0-based) from a Wavefront OBJ file.

    Accepts comments, `vn`/`vt`/`vp`/`o`/`g`/`s`/`mtllib`/`usemtl`/`l` lines (ignored), `f` corners written as
    `a`, `a/b`, `a//c` or `a/b/c`, negative (relative) indices, and polygons (fan-triangulated).
    Raises ValueError naming the file and line on anything else.
    """
    path = Path(path)
    vertices: list[tuple[float, float, float]] = []
    faces: list[tuple[int, int, int]] = []
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        keyword, *fields = line.split()
        if keyword == "v":
            if len(fields) not in (3, 4):
                raise _obj_error(path, lineno, raw, "a vertex needs 3 coordinates (optionally w)")
            try:
                x, y, z = (float(f) for f in fields[:3])
            except ValueError:
                raise _obj_error(path, lineno, raw, "non-numeric vertex coordinate") from None
            if not np.isfinite([x, y, z]).all():
                raise _obj_error(path, lineno, raw, "non-finite vertex coordinate")
            vertices.append((x, y, z))
        elif keyword == "f":
            if len(fields) < 3:
                raise _obj_error(path, lineno, raw, "a face needs at least 3 corners")
            corners = []
            for field in fields:
                try:
                    index = int(field.split("/", 1)[0])
                except ValueError:
                    raise _obj_error(path, lineno, raw, f"bad face corner {field!r}") from None
                if 0 < index <= len(vertices):
                    corners.append(index - 1)
                elif index < 0 and -index <= len(vertices):
                    corners.append(len(vertices) + index)
                else:
                    reason = f"vertex index {index} out of range (1..{len(vertices)} so far)"
                    raise _obj_error(path, lineno, raw, reason)
            faces += [(corners[0], corners[k], corners[k + 1]) for k in range(1, len(corners) - 1)]
        elif keyword not in _IGNORED_OBJ_STATEMENTS:
            raise _obj_error(path, lineno, raw, f"unknown statement {keyword!r}")
    return np.asarray(vertices, dtype=np.float64).reshape(-1, 3), np.asarray(faces, dtype=np.int64).reshape(-1, 3)
