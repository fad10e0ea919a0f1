"""The UAVA on-disk layout: what the real dataset's archive holds and what the toydrone generator writes.

    <root>/
      <drone>/exocentric/colour/<building>/<row>_<date>_<frame>_0_exocentric_colour.png
      metadata.json            {"drones": {<drone>: {"<building>_<row>_<date>": {"exocentric": {"<frame>": {
                                   "pose": 4x4 drone→camera, "3dpoints": 9x2 keypoints normalised (x, y),
                                   "2dbbox": [x0, y0, x1, y1] normalised, "3dbbox": 8x2 normalised,
                                   "visibleAll": bool}}}}}}
      data splits/scenes_{train,val,test}.txt     Matterport3D building ids, one per line
      models/<drone>.obj       the drone's mesh (ADD / Proj vertices)
      keypoints/<drone>.json   {"keypoints": 9x3 metres (centroid + 8 motors), "diameter": metres}
      camera.json              {"width", "height", "hfov_deg"}   (optional: the dataset config gives UAVA's)

The image-name pattern and the per-frame fields follow the UAVA toolset and the reproducers' loader; the keypoint
file is the reproducers' `data_<Drone>.yaml` as JSON. Normalised coordinates map the image's outer edges to 0 and 1:
x = (u + 0.5) / W with pixel centres at integer u (OpenCV's convention).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reprozoo.errors import DataValidationError

SPLITS = ("train", "val", "test")
SPLIT_DIR = "data splits"
VIEW = "exocentric"
FRAME = "0"


@dataclass(frozen=True)
class RawSample:
    """One annotated exocentric frame as read from the layout (no image decoding)."""

    image: Path  # relative to the dataset root
    key: str  # "<building>_<row>_<date>"
    building: str
    split: str
    drone: str
    pose: np.ndarray  # [4, 4] drone→camera
    keypoints_norm: np.ndarray  # [9, 2] normalised (x, y)
    visible_all: bool


def image_path(drone: str, building: str, row: str, date: str, frame: str = FRAME) -> Path:
    """Relative path of a colour frame in the layout."""
    return Path(drone, VIEW, "colour", building, f"{row}_{date}_{frame}_0_{VIEW}_colour.png")


def norm_to_pixels(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised (x, y) [..., 2] → pixel (u, v) [..., 2]."""
    return xy * np.array([width, height]) - 0.5


def pixels_to_norm(uv: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel (u, v) [..., 2] → normalised (x, y) [..., 2]."""
    return (uv + 0.5) / np.array([width, height])


def write_split_files(root: Path, buildings: dict[str, list[str]]) -> None:
    """Write `data splits/scenes_<split>.txt` from {split: [building, ...]}."""
    (root / SPLIT_DIR).mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (root / SPLIT_DIR / f"scenes_{split}.txt").write_text("".join(f"{b}\n" for b in buildings.get(split, [])))


def read_split_files(root: Path) -> dict[str, str]:
    """Map building id → split from `data splits/scenes_*.txt`; a building in two splits is an error."""
    owner: dict[str, str] = {}
    for split in SPLITS:
        path = root / SPLIT_DIR / f"scenes_{split}.txt"
        if not path.is_file():
            raise DataValidationError(f"{path}: missing split file")
        for line in path.read_text().splitlines():
            building = line.strip()
            if not building:
                continue
            if building in owner and owner[building] != split:
                raise DataValidationError(f"{path}: building '{building}' is also in the {owner[building]} split")
            owner[building] = split
    return owner


def read_json(path: Path) -> Any:
    """Load a JSON file, turning a missing or malformed file into a one-line data error."""
    if not path.is_file():
        raise DataValidationError(f"{path}: missing")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataValidationError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc


def read_keypoints(root: Path, drone: str) -> tuple[np.ndarray, float]:
    """The drone's 3D keypoints [9, 3] (metres) and its diameter (metres) from `keypoints/<drone>.json`."""
    path = root / "keypoints" / f"{drone}.json"
    data = read_json(path)
    try:
        keypoints = np.asarray(data["keypoints"], dtype=np.float64)
        diameter = float(data["diameter"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataValidationError(f"{path}: needs 'keypoints' (9x3) and 'diameter': {exc}") from exc
    if keypoints.shape != (9, 3) or not np.isfinite(keypoints).all() or not diameter > 0:
        raise DataValidationError(f"{path}: 'keypoints' must be 9x3 finite and 'diameter' > 0")
    return keypoints, diameter


def _field(entry: dict[str, Any], name: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    if name not in entry:
        raise DataValidationError(f"{where}: missing field '{name}'")
    try:
        value = np.asarray(entry[name], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"{where}: field '{name}' is not numeric") from exc
    if value.shape != shape:
        raise DataValidationError(f"{where}: field '{name}' has shape {list(value.shape)}, expected {list(shape)}")
    return value


def read_samples(root: Path, drone: str) -> list[RawSample]:
    """Every exocentric frame-0 sample of `drone` listed in `metadata.json`, with its split from the split files.

    Raises DataValidationError naming `metadata.json` and the entry for a missing or malformed field, and naming
    the image for a listed frame whose file is absent.
    """
    meta_path = root / "metadata.json"
    meta = read_json(meta_path)
    sequences = meta.get("drones", {}).get(drone) if isinstance(meta, dict) else None
    if not isinstance(sequences, dict) or not sequences:
        raise DataValidationError(f"{meta_path}: no entries under drones/{drone}")
    owner = read_split_files(root)
    samples: list[RawSample] = []
    for key in sorted(sequences):
        frames = sequences[key].get(VIEW, {}) if isinstance(sequences[key], dict) else {}
        if FRAME not in frames:
            continue
        where = f"{meta_path}: drones/{drone}/{key}/{VIEW}/{FRAME}"
        entry = frames[FRAME]
        building, _, rest = key.partition("_")
        row, _, date = rest.partition("_")
        if not (building and row and date):
            raise DataValidationError(f"{where}: key must be <building>_<row>_<date>")
        if building not in owner:
            continue  # building outside every split: not part of the dataset, as in the UAVA toolset
        pose = _field(entry, "pose", (4, 4), where)
        keypoints = _field(entry, "3dpoints", (9, 2), where)
        if "visibleAll" not in entry:
            raise DataValidationError(f"{where}: missing field 'visibleAll'")
        image = image_path(drone, building, row, date)
        if not (root / image).is_file():
            raise DataValidationError(f"{root / image}: image listed in metadata.json is missing")
        samples.append(RawSample(image, key, building, owner[building], drone, pose, keypoints, bool(entry["visibleAll"])))
    return samples
