"""The five real-format readers, each on small files this test writes in the dataset's own format (no downloads)."""

from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from PIL import Image

from reprozoo.errors import DataValidationError
from reprozoo.papers.topogan.data import cremi, facade, isbi, maps, retina
from reprozoo.topology import betti_number


def _save_tiff_stack(path: Path, slices: np.ndarray) -> None:
    """A multi-page 8-bit TIFF written by Pillow (not by the reader's own writer)."""
    pages = [Image.fromarray(s) for s in slices]
    pages[0].save(path, save_all=True, append_images=pages[1:])


def test_isbi_reads_label_slices_with_membranes_as_structure(tmp_path: Path) -> None:
    labels = np.full((3, 40, 50), 255, dtype=np.uint8)
    labels[:, 20, :] = 0  # one horizontal membrane per slice
    labels[1, :, 25] = 0  # slice 1 also a vertical one
    _save_tiff_stack(tmp_path / "train-labels.tif", labels)
    _save_tiff_stack(tmp_path / "train-volume.tif", np.full_like(labels, 128))
    found = isbi.sources(tmp_path)
    assert [(s.path, s.index) for s in found] == [("train-labels.tif", z) for z in range(3)]
    masks = [s.load() for s in found]
    assert all(m.dtype == np.bool_ and m.shape == (40, 50) for m in masks)
    np.testing.assert_array_equal(masks[1], labels[1] == 0)
    assert [betti_number(m) for m in masks] == [2, 4, 2]


def test_isbi_refuses_a_volume_that_does_not_match_the_labels(tmp_path: Path) -> None:
    _save_tiff_stack(tmp_path / "train-labels.tif", np.zeros((3, 8, 8), dtype=np.uint8))
    _save_tiff_stack(tmp_path / "train-volume.tif", np.zeros((2, 8, 8), dtype=np.uint8))
    with pytest.raises(DataValidationError, match="train-volume.tif: shape"):
        isbi.sources(tmp_path)
    (tmp_path / "train-labels.tif").unlink()
    with pytest.raises(DataValidationError, match="train-labels.tif: missing"):
        isbi.sources(tmp_path)


def test_cremi_membranes_are_neuron_id_boundaries(tmp_path: Path) -> None:
    ids = np.zeros((2, 30, 30), dtype=np.uint64)
    ids[:, :15, 15:] = 1
    ids[:, 15:, :15] = 2
    ids[:, 15:, 15:] = 3
    ids[1, 15:, 15:] = 2**63 + 5  # large uint64 ids are ordinary labels
    with h5py.File(tmp_path / "sample_A_20160501.hdf", "w") as f:
        f["volumes/raw"] = np.zeros((2, 30, 30), dtype=np.uint8)
        f["volumes/labels/neuron_ids"] = ids
    found = cremi.sources(tmp_path)
    assert [(s.path, s.index) for s in found] == [("sample_A_20160501.hdf", 0), ("sample_A_20160501.hdf", 1)]
    mask = found[0].load()
    assert mask[14, :].all() and mask[15, :].all() and mask[:, 14].all() and mask[:, 15].all()  # 2 px on both sides
    assert mask.sum() == 4 * 30 - 4
    assert betti_number(mask) == 4  # four neurons = four cells
    assert cremi.sources(tmp_path, dilation=1)[0].load().sum() > mask.sum()


def test_cremi_refuses_a_file_without_neuron_ids(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "sample_B.hdf", "w") as f:
        f["volumes/raw"] = np.zeros((1, 4, 4), dtype=np.uint8)
    with pytest.raises(DataValidationError, match="no dataset 'volumes/labels/neuron_ids'"):
        cremi.sources(tmp_path)


def _map_pair(height: int, roads: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A pix2pix maps pair (BGR): noisy aerial half | map half with beige land and white roads."""
    aerial = rng.integers(0, 255, (height, height, 3), dtype=np.uint8)
    land = np.array([233, 239, 242], dtype=np.uint8)  # BGR of Google's land colour
    tile = np.where(roads[..., None], np.uint8(255), land).astype(np.uint8)
    return np.concatenate([aerial, tile], axis=1)


def test_maps_reads_white_roads_of_the_map_half_in_numeric_file_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    roads = np.zeros((64, 64), dtype=bool)
    roads[30:34, :] = True
    roads[:, 10:14] = True
    for folder, names in (("train", ["10", "2"]), ("val", ["1"])):
        (tmp_path / "maps" / folder).mkdir(parents=True)
        for name in names:
            cv2.imwrite(str(tmp_path / "maps" / folder / f"{name}.jpg"), _map_pair(64, roads, rng), [cv2.IMWRITE_JPEG_QUALITY, 95])
    found = maps.sources(tmp_path)
    assert [s.path for s in found] == ["maps/train/2.jpg", "maps/train/10.jpg", "maps/val/1.jpg"]
    mask = found[0].load()
    assert mask.shape == (64, 64)
    agreement = (mask == roads).mean()
    assert agreement > 0.97  # JPEG blurs road edges by a pixel at most


def _palette_png(path: Path, classes: np.ndarray) -> None:
    image = Image.fromarray(classes.astype(np.uint8), mode="P")
    image.putpalette([v for i in range(256) for v in (i * 7 % 256, i * 13 % 256, i * 29 % 256)])
    image.save(path)


def test_facade_wall_classes_are_structure_and_windows_are_holes(tmp_path: Path) -> None:
    classes = np.full((60, 40), 2, dtype=np.uint8)  # facade wall
    classes[:5] = 1  # sky (background) along the top
    for top in (10, 30):
        for left in (5, 25):
            classes[top : top + 10, left : left + 8] = 3  # four windows
    classes[50:, 15:25] = 4  # a door reaching the bottom edge
    for folder, name in (("base", "cmp_b0001.png"), ("extended", "cmp_x0001.png")):
        (tmp_path / folder).mkdir()
        _palette_png(tmp_path / folder / name, classes)
    found = facade.sources(tmp_path)
    assert [s.path for s in found] == ["base/cmp_b0001.png", "extended/cmp_x0001.png"]
    mask = found[0].load()
    np.testing.assert_array_equal(mask, classes == 2)
    assert betti_number(mask) == 6  # 4 windows + the door and the sky, both closed by the frame


def test_retina_reads_the_four_sets_with_vessels_as_structure(tmp_path: Path) -> None:
    vessels = np.zeros((50, 70), dtype=np.uint8)
    cv2.line(vessels, (5, 25), (65, 25), 255, 3)
    files = {
        "DRIVE/training/1st_manual/21_manual1.gif": "GIF",
        "STARE/labels-ah/im0001.ah.ppm": "PPM",
        "CHASE_DB1/Image_01L_1stHO.png": "PNG",
        "IOSTAR/GT/STAR_01_GT.tif": "TIFF",
    }
    for rel, fmt in files.items():
        (tmp_path / rel).parent.mkdir(parents=True)
        image = Image.fromarray(vessels) if fmt != "PPM" else Image.fromarray(np.stack([vessels] * 3, axis=-1))
        image.save(tmp_path / rel, format=fmt)
    found = retina.sources(tmp_path)
    assert sorted(s.path for s in found) == sorted(files)
    for source in found:
        np.testing.assert_array_equal(source.load(), vessels > 127)
    with pytest.raises(DataValidationError, match="no vessel masks"):
        retina.sources(tmp_path, patterns=["**/*.bmp"])
