"""preprocess refuses bad data with one line naming the file and the failed expectation, and writes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from reprozoo.errors import DataValidationError
from reprozoo.stages.preprocess import preprocess

RAW = Path("data/raw/toydrone-tello")


def _metadata(project: Path) -> dict:
    return json.loads((project / RAW / "metadata.json").read_text())


def _entry(meta: dict, index: int = 0) -> tuple[str, dict]:
    key = sorted(meta["drones"]["tello"])[index]
    return key, meta["drones"]["tello"][key]["exocentric"]["0"]


def _image_of(key: str) -> str:
    building, row, date = key.split("_")
    return f"tello/exocentric/colour/{building}/{row}_{date}_0_0_exocentric_colour.png"


def _write(project: Path, meta: dict) -> None:
    (project / RAW / "metadata.json").write_text(json.dumps(meta))


def _assert_refused(project: Path, *fragments: str) -> None:
    with pytest.raises(DataValidationError) as info:
        preprocess("toydrone-tello", root=project)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert not (project / "data" / "processed" / "toydrone-tello").exists()


def test_clean_data_passes_and_writes_manifest(project_with_raw: Path) -> None:
    report = preprocess("toydrone-tello", root=project_with_raw)
    assert report.success and report.evaluated >= 20
    processed = project_with_raw / "data" / "processed" / "toydrone-tello"
    manifest = pd.read_parquet(processed / "manifest.parquet")
    info = json.loads((processed / "dataset.json").read_text())
    assert info["splits"] == {"train": 128, "val": 24, "test": 48}  # the smoke profile, after the visibleAll filter
    assert info["n_filtered"] == 128 // 33 + 48 // 33 and len(manifest) == 200
    assert manifest["visible_all"].all() and manifest["sha256"].str.len().eq(64).all()
    assert (project_with_raw / "reports" / "validation" / "toydrone-tello" / "index.html").is_file()


def test_corrupt_image(project_with_raw: Path) -> None:
    key, _ = _entry(_metadata(project_with_raw), 5)
    (project_with_raw / RAW / _image_of(key)).write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    _assert_refused(project_with_raw, _image_of(key), "expect_column_values_to_be_in_set(decodable)")


def test_missing_metadata_field(project_with_raw: Path) -> None:
    meta = _metadata(project_with_raw)
    key, entry = _entry(meta, 3)
    del entry["pose"]
    _write(project_with_raw, meta)
    _assert_refused(project_with_raw, "metadata.json", key, "missing field 'pose'")


def test_keypoint_outside_the_frame_claimed_visible(project_with_raw: Path) -> None:
    meta = _metadata(project_with_raw)
    key, entry = _entry(meta, 7)
    entry["3dpoints"][4][0] = 1.25  # normalised x beyond the right edge, yet visibleAll stays true
    _write(project_with_raw, meta)
    _assert_refused(project_with_raw, _image_of(key), "expect_column_values_to_be_between(kpt_u_max)")


def test_nan_pose(project_with_raw: Path) -> None:
    meta = _metadata(project_with_raw)
    key, entry = _entry(meta, 11)
    entry["pose"][0][3] = float("nan")
    _write(project_with_raw, meta)
    _assert_refused(project_with_raw, _image_of(key), "pose_finite")


def test_train_test_leakage_by_checksum(project_with_raw: Path) -> None:
    meta = _metadata(project_with_raw)
    keys = sorted(meta["drones"]["tello"])
    train_key = next(k for k in keys if k.startswith("toytrain"))
    test_key = next(k for k in keys if k.startswith("toytest"))
    shutil.copyfile(project_with_raw / RAW / _image_of(train_key), project_with_raw / RAW / _image_of(test_key))
    _assert_refused(project_with_raw, "leaks_across_splits")


def test_cli_prints_one_line_and_exits_nonzero(project_with_raw: Path) -> None:
    key, _ = _entry(_metadata(project_with_raw), 2)
    (project_with_raw / RAW / _image_of(key)).write_bytes(b"garbage")
    env = {**os.environ, "REPROZOO_ROOT": str(project_with_raw)}
    done = subprocess.run([sys.executable, "-m", "reprozoo.cli", "preprocess", "toydrone-tello"], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("reprozoo: error: ") and _image_of(key) in lines[0]
    assert "Traceback" not in done.stderr
