"""Patches, splits, the SynthMembranes generator and preprocess (manifest, diagrams, validation suite)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from reprozoo.papers.topogan.data import diagrams as packed
from reprozoo.papers.topogan.data import isbi, synthmembranes
from reprozoo.papers.topogan.data.manifest import build_manifest, expectations
from reprozoo.papers.topogan.data.patches import assign_splits, cut_patches, from_grey, patches_per_source, resize_structure, to_grey
from reprozoo.topology import betti_number, betti_numbers, diagram


def test_polarity_round_trip_and_resize_keep_structure_dark() -> None:
    structure = np.zeros((128, 128), dtype=bool)
    structure[60:64, :] = True  # a 4-px road
    grey = to_grey(structure)
    assert grey.dtype == np.uint8 and set(np.unique(grey)) == {0, 255} and grey[61, 0] == 0
    np.testing.assert_array_equal(from_grey(grey), structure)
    small = resize_structure(structure, 64)
    assert small.shape == (64, 64) and small[30:32].all() and small.sum() == 2 * 64


def test_random_crops_respect_the_structure_fraction_and_whole_modes_resize() -> None:
    rng = np.random.default_rng(0)
    structure = np.zeros((200, 300), dtype=bool)
    structure[:, 150:] = synthmembranes.grid(rng, 300)[:200, 150:]  # right half has roads, left half is empty
    patches = cut_patches(structure, count=10, crop=64, size=32, fraction=(0.02, 0.9), rng=rng)
    assert len(patches) == 10
    assert all(p.structure.shape == (32, 32) and p.side == 64 and p.col + 64 > 150 for p in patches)
    assert cut_patches(np.zeros((80, 80), dtype=bool), count=3, crop=32, size=32, fraction=(0.02, 0.9), rng=rng) == []
    (center,) = cut_patches(structure, count=1, crop="center", size=50, fraction=(0, 1), rng=rng)
    assert (center.row, center.col, center.side) == (0, 50, 200)
    (whole,) = cut_patches(structure, count=1, crop=None, size=50, fraction=(0, 1), rng=rng)
    assert whole.structure.shape == (50, 50) and not whole.structure[:, :20].any()


def test_splits_are_contiguous_blocks_and_patch_counts_spread_evenly() -> None:
    splits = assign_splits(2600, {"train": 2000, "val": 100, "test": 500})
    assert splits[:2000] == ["train"] * 2000 and splits[2000:2100] == ["val"] * 100 and splits[2100:] == ["test"] * 500
    assert assign_splits(30, {"train": 24, "val": 2, "test": 4}).count("test") == 4
    assert patches_per_source(1500, 30) == [50] * 30 and sum(patches_per_source(4915, 1096)) == 4915
    assert patches_per_source(None, 3) == [1, 1, 1]
    with pytest.raises(ValueError, match="unknown split"):
        assign_splits(3, {"train": 1, "holdout": 1})


@pytest.mark.parametrize("size", [32, 64])
def test_voronoi_masks_have_one_hole_per_cell(size: int) -> None:
    for i in range(25):
        rng = np.random.default_rng([7, i])
        labels = synthmembranes.voronoi_labels(rng, size, (4, 12), 0.15)
        mask = synthmembranes.membranes(labels, int(rng.integers(1, 3)))
        assert betti_number(mask) == labels.max() + 1


def test_grid_masks_have_r_plus_1_times_c_plus_1_holes() -> None:
    for i in range(10):
        mask = synthmembranes.grid(np.random.default_rng([3, i]), 64, lines=(1, 4), width=(1, 2))
        rows = np.flatnonzero(mask.all(axis=1))
        cols = np.flatnonzero(mask.all(axis=0))
        n_rows = 1 + int((np.diff(rows) > 1).sum()) if rows.size else 0
        n_cols = 1 + int((np.diff(cols) > 1).sum()) if cols.size else 0
        assert betti_number(mask) == (n_rows + 1) * (n_cols + 1)


def test_broken_walls_make_almost_holes_and_lower_beta1() -> None:
    lowered = almost = 0
    for i in range(20):
        rng = np.random.default_rng([5, i])
        labels = synthmembranes.voronoi_labels(rng, 64, (4, 12), 0.15)
        whole = synthmembranes.membranes(labels, 1)
        cut = synthmembranes.break_walls(whole, labels, rng, gaps=(2, 2), length=(2, 4))
        assert betti_number(cut) <= betti_number(whole)
        lowered += betti_number(cut) < betti_number(whole)
        born_late = lambda m: int((diagram(m).births > 0).sum())  # noqa: E731
        almost += born_late(cut) > born_late(whole)
    assert lowered >= 18 and almost >= 15  # two cuts may land on one wall, or beside the frame


def test_generator_writes_the_isbi_layout_deterministically(tmp_path: Path) -> None:
    kwargs = dict(size=32, count=12, families={"voronoi": 1.0, "grid": 1.0, "vessel": 1.0}, params={}, seed=3, progress=False)
    assert synthmembranes.generate(tmp_path / "a", **kwargs) == 12
    synthmembranes.generate(tmp_path / "b", **kwargs)
    labels = isbi.read_stack(tmp_path / "a" / isbi.LABELS)
    assert labels.shape == (12, 32, 32) and set(np.unique(labels)) == {0, 255}
    assert isbi.read_stack(tmp_path / "a" / isbi.VOLUME).shape == labels.shape
    np.testing.assert_array_equal(labels, isbi.read_stack(tmp_path / "b" / isbi.LABELS))
    sources = isbi.sources(tmp_path / "a")
    np.testing.assert_array_equal(sources[4].load(), labels[4] == 0)


def _dataset_cfg(**changes):
    cfg = {
        "name": "tiny", "format": "isbi2012", "image": {"size": 32}, "splits": {"train": 16, "val": 4, "test": 8},
        "seed": 0, "patches": {"count": None, "crop": None}, "structure_fraction": [0.02, 0.6], "topology": {"dim": 1},
        "workers": 1,
    }
    return OmegaConf.create({**cfg, **changes})


@pytest.fixture(scope="module")
def tiny_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("raw") / "tiny"
    synthmembranes.generate(root, size=32, count=28, families={"voronoi": 1.0}, params={}, seed=0, progress=False)
    return root


def test_manifest_rows_diagrams_and_betti_numbers_agree(tiny_raw: Path) -> None:
    manifest, info, arrays = build_manifest(tiny_raw, _dataset_cfg())
    assert len(manifest) == 28 and manifest["split"].value_counts().to_dict() == {"train": 16, "test": 8, "val": 4}
    assert manifest["betti_agrees"].all() and manifest["sample_id"].is_unique
    masks = arrays["masks"]
    assert masks.shape == (28, 32, 32) and masks.dtype == np.uint8
    structure = from_grey(masks)
    np.testing.assert_array_equal(manifest["betti1"], betti_numbers(structure, dim=1))
    unpacked = packed.unpack(arrays["diagrams"], [5, 2])
    for got, i in zip(unpacked, [5, 2], strict=True):
        want = diagram(structure[i])
        np.testing.assert_array_equal(got.pairs, want.pairs)
        np.testing.assert_array_equal(got.birth_pixels, want.birth_pixels)
    assert info["size"] == 32 and info["dim"] == 1


def test_suite_refuses_a_dataset_with_flipped_polarity(tiny_raw: Path, tmp_path: Path) -> None:
    from reprozoo.data.validation import validate_manifest
    from reprozoo.stages.preprocess import mark_cross_split_duplicates

    flipped = tmp_path / "flipped"
    flipped.mkdir()
    for name in (isbi.LABELS, isbi.VOLUME):
        isbi.write_stack(flipped / name, 255 - isbi.read_stack(tiny_raw / name))
    manifest, info, _ = build_manifest(flipped, _dataset_cfg())
    report = validate_manifest(mark_cross_split_duplicates(manifest), expectations(info), suite_name="flipped", docs_dir=tmp_path / "docs", file_root=flipped)
    assert not report.success
    assert any(f.column == "structure_fraction" for f in report.failures)
    assert report.failures[0].describe().startswith(str(flipped / "train-labels.tif"))
