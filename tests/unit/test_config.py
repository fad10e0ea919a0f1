"""Composing the real configuration tree: profiles, variants, datasets, overrides and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprozoo.config import compose, flatten, params_hash, resolve_profile
from reprozoo.errors import ReprozooError
from tests.conftest import make_project


@pytest.mark.parametrize(("profile", "size", "train"), [("smoke", (128, 96), 128), ("default", (160, 120), 2000), ("full", (320, 240), 40000)])
def test_profiles_shape_the_run(project: Path, profile: str, size: tuple[int, int], train: int) -> None:
    cfg = compose(target="pose/hrnet-lh", dataset="toydrone-tello", profile=profile, root=project)
    assert (cfg.image.width, cfg.image.height) == size
    assert cfg.dataset.splits.train == train
    assert cfg.trainer.max_epochs == cfg.profile.pose.epochs.lh
    assert cfg.variant.name == "hrnet-lh" and cfg.paper == "pose"


def test_profile_comes_from_params_yaml_unless_given(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", profile="default")
    assert resolve_profile(root, None) == "default"
    assert resolve_profile(root, "smoke") == "smoke"
    (root / "params.yaml").write_text("profile: smoke\n")  # what `dvc exp run -S profile=smoke` does
    assert compose(dataset="toydrone-tello", root=root).profile.name == "smoke"
    (root / "params.yaml").write_text("profile: huge\n")
    with pytest.raises(ReprozooError, match="profile 'huge'"):
        compose(root=root)


def test_overrides_and_shrinking(project: Path) -> None:
    cfg = compose(target="pose/hrnet-lh", dataset="toydrone-tello", overrides=["optim.lr=3e-4", "model.widths=[8,16]", "dataset.splits.train=10"], root=project)
    assert cfg.optim.lr == 3e-4 and list(cfg.model.widths) == [8, 16] and cfg.dataset.splits.train == 10
    assert params_hash(cfg) != params_hash(compose(target="pose/hrnet-lh", dataset="toydrone-tello", root=project))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "pose/nope"}, "no pipelines/pose/nope.yaml (known: "),
        ({"target": "nopaper/x"}, "no paper 'nopaper'"),
        ({"target": "pose"}, "expected <paper>/<variant>"),
        ({"target": "pose/_base"}, "no pipelines/pose/_base.yaml"),
        ({"dataset": "mnist"}, "dataset 'mnist': no pipelines/dataset/mnist.yaml"),
        ({"target": "pose/hrnet-lh", "overrides": ["optim.lrr=1"]}, "configuration: Could not override 'optim.lrr'"),
    ],
)
def test_mistakes_are_one_line_errors(project: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ReprozooError) as info:
        compose(root=project, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_flatten_gives_dotted_params(project: Path) -> None:
    flat = flatten(compose(target="pose/hrnet-lh", dataset="toydrone-tello", root=project))
    assert flat["optim.lr"] == "0.001" and flat["model.widths"] == "[16, 32]" and flat["dataset.name"] == "toydrone-tello"
