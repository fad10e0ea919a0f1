"""ToyDrone mesh, pose sampler and renderer: geometry, visibility, determinism, OBJ I/O, pixel alignment."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from reprozoo.geometry.camera import camera_depths_np, intrinsics_from_fov, project_points_np
from reprozoo.papers.pose.data.drone_model import DroneModel, build_drone, read_obj, sample_surface, write_obj
from reprozoo.papers.pose.data.render import pose_from_angles, render, sample_pose

W, H = 160, 120
K = intrinsics_from_fov(W, H, 64.69)
KINDS = ("large", "small")


@pytest.fixture(scope="module", params=KINDS)
def model(request: pytest.FixtureRequest) -> DroneModel:
    return build_drone(request.param)


def _without_faces(model: DroneModel) -> DroneModel:
    """The same model with no triangles: renders the background of the same rng state."""
    return dataclasses.replace(
        model,
        faces=np.zeros((0, 3), dtype=np.int64),
        face_colors=np.zeros((0, 3), dtype=np.uint8),
        face_parts=np.zeros(0, dtype=np.int64),
    )


def _footprint(model: DroneModel, R: np.ndarray, t: np.ndarray, seed: int) -> np.ndarray:
    """Bool mask [H, W] of pixels where the render differs from the background-only render of the same seed."""
    image = render(model, R, t, K, W, H, np.random.default_rng(seed))
    background = render(_without_faces(model), R, t, K, W, H, np.random.default_rng(seed))
    return np.any(image != background, axis=2)


def _centred_pose(
    model: DroneModel, yaw: float, pitch: float, roll: float, depth: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pose whose keypoint centroid sits on the optical axis at `depth` metres."""
    R = pose_from_angles(yaw, pitch, roll)
    return R, np.array([0.0, 0.0, depth]) - R @ model.keypoints[0]


def test_keypoint_layout_matches_uava_boxes() -> None:
    spans = {kind: np.ptp(build_drone(kind).keypoints[1:], axis=0) for kind in KINDS}
    np.testing.assert_allclose(spans["large"], [0.436, 0.125, 0.330], atol=2e-3)
    np.testing.assert_allclose(spans["small"], [0.097, 0.051, 0.074], atol=2e-3)
    large = build_drone("large").keypoints
    np.testing.assert_allclose(large[1], [-0.217215, 0.052593, 0.112591])  # front-upper-left
    np.testing.assert_allclose(large[0], large[1:].mean(axis=0))
    # index = 1 + 4·back + 2·lower + right
    for kps in (large, build_drone("small").keypoints):
        motors = kps[1:].reshape(2, 2, 2, 3)  # [back, lower, right, xyz]
        assert np.all(motors[0, :, :, 2] > motors[1, :, :, 2])  # front has larger z
        assert np.all(motors[:, 0, :, 1] > motors[:, 1, :, 1])  # upper has larger y
        assert np.all(motors[:, :, 0, 0] < 0) and np.all(motors[:, :, 1, 0] > 0)  # left x < 0, right x > 0


def test_projection_agrees_with_cv2(model: DroneModel) -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        R, t = sample_pose(rng, model, K, W, H)
        points = np.concatenate([model.keypoints, model.surface_samples])
        ours = project_points_np(points, R, t, K)
        rvec, _ = cv2.Rodrigues(R)
        theirs, _ = cv2.projectPoints(points, rvec, t, K, None)
        np.testing.assert_allclose(ours, theirs[:, 0], atol=1e-4, rtol=0)


@pytest.mark.parametrize("margin", [3.0, 10.0])
def test_sampled_poses_keep_keypoints_inside(model: DroneModel, margin: float) -> None:
    rng = np.random.default_rng(2)
    for _ in range(300):
        R, t = sample_pose(rng, model, K, W, H, margin_px=margin)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0)
        assert 0.6 <= t[2] <= 2.5
        assert np.all(camera_depths_np(model.keypoints, R, t) > 0)
        uv = project_points_np(model.keypoints, R, t, K)
        assert np.all(uv >= margin - 1e-9)
        assert np.all(uv <= np.array([W - 1, H - 1]) - margin + 1e-9)


def test_pose_distribution_and_scale_gap() -> None:
    rng = np.random.default_rng(3)
    widths = {}
    for kind in KINDS:
        model = build_drone(kind)
        poses = [sample_pose(rng, model, K, W, H) for _ in range(400)]
        widths[kind] = np.array([np.ptp(project_points_np(model.keypoints, R, t, K)[:, 0]) for R, t in poses])
        depths = np.array([t[2] for _, t in poses])
        assert depths.min() < 0.9 and depths.max() > 2.2  # the whole depth range is used
        yaws = np.array([np.degrees(np.arctan2(R[0, 2], -R[2, 2])) for R, _ in poses])
        assert np.histogram(yaws, bins=4, range=(-180, 180))[0].min() > 50  # yaw covers the circle
    assert 3.5 < np.median(widths["large"]) / np.median(widths["small"]) < 5.5
    # x-extent ≈ keypoint-box diagonal · f / 0.6 m at most (0.56 m → 118 px, 0.13 m → 28 px) plus perspective
    assert 8 < widths["large"].min() and widths["large"].max() < 135
    assert 1 < widths["small"].min() and widths["small"].max() < 32


def test_render_is_deterministic(model: DroneModel) -> None:
    def draw(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        R, t = sample_pose(rng, model, K, W, H)
        return render(model, R, t, K, W, H, rng)

    first, again, other = draw(7), draw(7), draw(8)
    assert first.shape == (H, W, 3) and first.dtype == np.uint8
    assert first.tobytes() == again.tobytes()
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 5


def test_drone_covers_its_projected_centroid_and_scales() -> None:
    areas = {}
    for kind in KINDS:
        model = build_drone(kind)
        R, t = _centred_pose(model, yaw=35.0, pitch=20.0, roll=5.0, depth=1.2)
        mask = _footprint(model, R, t, seed=11)
        u, v = np.round(project_points_np(model.keypoints[:1], R, t, K)[0]).astype(int)
        assert mask[v - 1 : v + 2, u - 1 : u + 2].all()
        areas[kind] = int(mask.sum())
    assert areas["small"] > 20
    assert areas["large"] > 8 * areas["small"]


def test_footprint_is_aligned_with_projection() -> None:
    """A flat square facing the camera: its coverage-weighted image centroid is its projected centre (< 0.15 px),
    which checks the 2× supersampling offset and the (column, row) convention."""
    half = 0.1
    vertices = np.array([[-half, -half, 0.0], [half, -half, 0.0], [half, half, 0.0], [-half, half, 0.0]])
    faces = np.array([[0, 2, 1], [0, 3, 2]])  # normal −z: faces a camera at −z
    centre_px = np.array([70.3, 50.7])
    depth = 1.0
    t = np.array([(centre_px[0] - K[0, 2]) * depth / K[0, 0], (centre_px[1] - K[1, 2]) * depth / K[1, 1], depth])
    R = np.eye(3)

    def plate(grey: int) -> np.ndarray:
        model = DroneModel(
            name="plate",
            vertices=vertices,
            faces=faces,
            face_colors=np.full((2, 3), grey, dtype=np.uint8),
            face_parts=np.zeros(2, dtype=np.int64),
            keypoints=np.zeros((9, 3)),
            surface_samples=np.zeros((0, 3)),
            diameter=1.0,
        )
        return render(model, R, t, K, W, H, np.random.default_rng(5)).astype(np.float64).sum(axis=2)

    coverage = plate(200) - plate(40)  # the background, jitter and noise cancel
    coverage[np.abs(coverage) < 3] = 0.0  # rounding residue
    rows, cols = np.mgrid[0:H, 0:W]
    centroid = np.array([(coverage * cols).sum(), (coverage * rows).sum()]) / coverage.sum()
    np.testing.assert_allclose(project_points_np(np.zeros((1, 3)), R, t, K)[0], centre_px, atol=1e-9)
    np.testing.assert_allclose(centroid, centre_px, atol=0.15)
    assert coverage.sum() > 0 and (coverage > 0).sum() == pytest.approx((2 * half * K[0, 0]) ** 2, rel=0.15)


def _yaw_flip_difference(model: DroneModel, yaw: float) -> float:
    """Mean |image(yaw) − image(yaw + 180°)| over the union of the two drone footprints (same background)."""
    depth = 0.7 if model.name == "large" else 0.3
    images, masks = [], []
    for flip in (0.0, 180.0):
        R, t = _centred_pose(model, yaw=yaw + flip, pitch=25.0, roll=0.0, depth=depth)
        images.append(render(model, R, t, K, W, H, np.random.default_rng(4)).astype(int))
        masks.append(_footprint(model, R, t, seed=4))
    return float(np.abs(images[0] - images[1])[masks[0] | masks[1]].mean())


def test_yaw_180_renders_differently(model: DroneModel) -> None:
    """The 180° yaw flip is visible, and the front/back colour marker adds to what the shape alone shows."""
    grey = dataclasses.replace(model, face_colors=np.full_like(model.face_colors, 150))
    for yaw in (0.0, 50.0, 120.0):
        coloured = _yaw_flip_difference(model, yaw)
        assert coloured > 15
        assert coloured > _yaw_flip_difference(grey, yaw) + 8


def test_front_marker_is_in_front(model: DroneModel) -> None:
    colours = {tuple(c) for c in model.face_colors[model.vertices[model.faces].mean(axis=1)[:, 2] > 0].tolist()}
    back = {tuple(c) for c in model.face_colors[model.vertices[model.faces].mean(axis=1)[:, 2] < 0].tolist()}
    assert colours - back, "some colour must appear only at the front"


def test_mesh_is_closed_and_outward(model: DroneModel) -> None:
    assert model.vertices.shape[1] == 3 and model.faces.shape[1] == 3 and 120 <= len(model.faces) <= 200
    assert model.face_colors.shape == model.faces.shape and model.face_colors.dtype == np.uint8
    edges = np.concatenate([model.faces[:, [0, 1]], model.faces[:, [1, 2]], model.faces[:, [2, 0]]])
    directed = {tuple(e) for e in edges.tolist()}
    assert len(directed) == len(edges), "a directed edge is used twice: inconsistent winding"
    assert all((b, a) in directed for a, b in directed), "an edge has no opposite: the mesh is not closed"
    tri = model.vertices[model.faces]
    signed = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])) / 6
    for part in np.unique(model.face_parts):
        assert signed[model.face_parts == part].sum() > 0
    lo, hi = model.vertices.min(axis=0), model.vertices.max(axis=0)
    assert model.diameter == pytest.approx(float(np.linalg.norm(hi - lo)))


def test_surface_samples_lie_on_the_mesh(model: DroneModel) -> None:
    samples = model.surface_samples
    assert samples.shape == (500, 3)
    a, b, c = (model.vertices[model.faces[:, k]] for k in range(3))  # [F, 3] each
    normal = np.cross(b - a, c - a)
    area2 = np.linalg.norm(normal, axis=1)
    unit = normal / area2[:, None]
    rel = samples[:, None, :] - a[None]  # [N, F, 3]
    plane_distance = np.abs(np.einsum("nfk,fk->nf", rel, unit))
    # barycentric coordinates via sub-triangle areas (signed along the face normal)
    beta = np.einsum("nfk,fk->nf", np.cross(rel, (c - a)[None]), unit) / area2
    gamma = np.einsum("nfk,fk->nf", np.cross((b - a)[None], rel), unit) / area2
    inside = (beta >= -1e-9) & (gamma >= -1e-9) & (beta + gamma <= 1 + 1e-9)
    on_face = inside & (plane_distance < 1e-9)
    assert on_face.any(axis=1).all()
    # uniform by area: the share of samples on the body box matches its share of the area
    areas = area2 / 2
    body = model.face_parts == 0
    expected = areas[body].sum() / areas.sum()
    observed = on_face[:, body].any(axis=1).mean()
    assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / len(samples)) + 0.01


def test_obj_round_trip(model: DroneModel, tmp_path: Path) -> None:
    path = tmp_path / f"{model.name}.obj"
    write_obj(model, path)
    vertices, faces = read_obj(path)
    np.testing.assert_array_equal(vertices, model.vertices)
    np.testing.assert_array_equal(faces, model.faces)
    np.testing.assert_array_equal(sample_surface(vertices, faces, 500, 0), model.surface_samples)


def test_read_obj_tolerates_common_forms(tmp_path: Path) -> None:
    path = tmp_path / "mixed.obj"
    path.write_text(
        "# comment\nmtllib x.mtl\no thing\n"
        "v 0 0 0\nv 1 0 0\nv 1 1 0 1.0\nv 0 1 0  # trailing comment\n"
        "vn 0 0 1\nvt 0 0\nvt 1 0\nvt 1 1\ng part\nusemtl m\ns off\n"
        "f 1/1/1 2/2/1 3/3/1\n"
        "f 1//1 3//1 4//1\n"
        "f -4 -3 -2 -1\n"
    )
    vertices, faces = read_obj(path)
    assert vertices.shape == (4, 3) and vertices.dtype == np.float64
    np.testing.assert_array_equal(faces, [[0, 1, 2], [0, 2, 3], [0, 1, 2], [0, 2, 3]])


@pytest.mark.parametrize(
    ("body", "bad_line"),
    [
        ("v 0 0 0\nv 1 0\n", 2),
        ("v 0 0 0\nv 1 0 zero\n", 2),
        ("v 0 0 0\nv 1 0 nan\n", 2),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", 4),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\n\nf 1 2\n", 5),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 x/1\n", 4),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", 4),
        ("# fine\nbogus 1 2 3\n", 2),
    ],
)
def test_read_obj_rejects_malformed_lines(tmp_path: Path, body: str, bad_line: int) -> None:
    path = tmp_path / "bad.obj"
    path.write_text(body)
    with pytest.raises(ValueError, match=rf"bad\.obj:{bad_line}:"):
        read_obj(path)
