"""The ToyDrone generator writes UAVA's layout, with annotations that agree with the geometry."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from reprozoo.geometry.camera import intrinsics_from_fov
from reprozoo.papers.pose.data import uava
from reprozoo.papers.pose.data.toydrone import OUTSIDE_EVERY, generate


def _generate(root: Path, seed: int = 0) -> int:
    return generate(root, drone="tello", model_kind="small", width=128, height=96, hfov_deg=64.69,
                    splits={"train": 66, "val": 10, "test": 12}, seed=seed, diameter=0.219485, progress=False)


def test_layout_and_keypoints_agree_with_pose_and_intrinsics(tmp_path: Path) -> None:
    root = tmp_path / "toy"
    written = _generate(root)
    assert written == 66 + 2 + 10 + 12  # one extra out-of-frame sample per 33 kept train samples
    samples = uava.read_samples(root, "tello")
    assert len(samples) == written
    keypoints3d, diameter = uava.read_keypoints(root, "tello")
    assert diameter == 0.219485
    K = intrinsics_from_fov(128, 96, 64.69)
    for s in samples:
        image = cv2.imread(str(root / s.image))
        assert image is not None and image.shape == (96, 128, 3)
        R, t = s.pose[:3, :3], s.pose[:3, 3]
        rvec = cv2.Rodrigues(R)[0]
        projected, _ = cv2.projectPoints(keypoints3d, rvec, t, K, None)  # independent of our projection code
        annotated = uava.norm_to_pixels(s.keypoints_norm, 128, 96)
        assert np.abs(projected.reshape(-1, 2) - annotated).max() < 1e-4
        inside = ((annotated >= 0) & (annotated <= [127, 95])).all()
        assert inside == s.visible_all
    assert sum(not s.visible_all for s in samples) == 66 // OUTSIDE_EVERY
    splits = {s.split for s in samples}
    assert splits == {"train", "val", "test"}
    buildings = {split: {s.building for s in samples if s.split == split} for split in splits}
    assert not (buildings["train"] & buildings["test"]) and not (buildings["train"] & buildings["val"])
    assert json.loads((root / "camera.json").read_text()) == {"width": 128, "height": 96, "hfov_deg": 64.69}


def test_deterministic_by_seed(tmp_path: Path) -> None:
    _generate(tmp_path / "a", seed=3)
    _generate(tmp_path / "b", seed=3)
    _generate(tmp_path / "c", seed=4)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert files and all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert (tmp_path / "a" / "metadata.json").read_bytes() == (tmp_path / "b" / "metadata.json").read_bytes()
    assert (tmp_path / "a" / "metadata.json").read_bytes() != (tmp_path / "c" / "metadata.json").read_bytes()
