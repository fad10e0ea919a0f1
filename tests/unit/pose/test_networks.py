"""The pose paper's heatmap networks (HRNet, HigherHRNet, Stacked Hourglass) and their losses, at smoke size."""

from __future__ import annotations

import pytest
import torch

from reprozoo.config import compose
from reprozoo.errors import ReprozooError
from reprozoo.papers.pose.export import KeypointPredictor
from reprozoo.papers.pose.higherhrnet import HigherHRNet
from reprozoo.papers.pose.hourglass import StackedHourglass
from reprozoo.papers.pose.module import PoseModule, build_network, output_weights
from tests.conftest import REPO

VARIANTS = ("hrnet-lh", "higherhrnet-lh", "hourglass-lh")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP oversubscription on a shared 2-core machine (10× faster there)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _cfg(variant: str, profile: str = "smoke"):
    return compose(target=f"pose/{variant}", dataset="toydrone-tello", profile=profile, root=REPO)


@pytest.mark.parametrize(("width", "height"), [(128, 96), (160, 120)])
def test_higherhrnet_outputs_at_one_quarter_and_one_half(width: int, height: int) -> None:
    net = HigherHRNet(num_keypoints=9, deconv_channels=8, deconv_blocks=1, widths=(8, 16), modules=(1, 1), blocks=1, stem_channels=8, stem_units=1)
    quarter, half = net(torch.rand(2, 3, height, width))
    assert net.strides == (4, 2)
    assert quarter.shape == (2, 9, height // 4, width // 4)
    assert half.shape == (2, 9, height // 2, width // 2)


@pytest.mark.parametrize("stacks", [1, 2, 3])
def test_hourglass_gives_one_supervised_output_per_stack(stacks: int) -> None:
    net = StackedHourglass(num_keypoints=9, stacks=stacks, depth=2, channels=16)
    outputs = net(torch.rand(2, 3, 120, 160))  # 30 rows at 1/4: pooling 30 → 15 → 8 and back
    assert net.strides == (4,) * stacks and len(outputs) == stacks
    assert all(o.shape == (2, 9, 30, 40) for o in outputs)
    outputs[0].sum().backward()  # stack 1 is supervised on its own: its loss reaches the stem, not later stacks' heads
    assert net.stem[0].weight.grad is not None
    assert all(head.weight.grad is None for head in net.heads[1:])


@pytest.mark.parametrize("variant", VARIANTS)
def test_tiny_networks_stay_under_half_a_million_parameters(variant: str) -> None:
    net = build_network(_cfg(variant, "default").model)
    assert sum(p.numel() for p in net.parameters()) < 500_000


def test_full_profile_builds_the_reports_sizes() -> None:
    assert list(_cfg("higherhrnet-lh", "full").model.widths) == [48, 96, 192]
    assert _cfg("higherhrnet-lh", "full").model.deconv_channels == 48
    assert (_cfg("hourglass-lh", "full").model.stacks, _cfg("hourglass-lh", "full").model.channels) == (4, 128)


def test_aggregation_is_a_config_option() -> None:
    cfg = _cfg("higherhrnet-lh")
    assert cfg.model.aggregate == "logits" and _cfg("hrnet-lh").model.aggregate == "last"
    assert PoseModule(compose(target="pose/higherhrnet-lh", dataset="toydrone-tello", profile="smoke", overrides=["model.aggregate=probs"], root=REPO), None).aggregation == "probs"
    with pytest.raises(ReprozooError, match="model.aggregate 'max'"):
        PoseModule(compose(target="pose/higherhrnet-lh", dataset="toydrone-tello", profile="smoke", overrides=["model.aggregate=max"], root=REPO), None)


def test_output_weights_default_to_equal_shares() -> None:
    assert output_weights(None, 2) == [0.5, 0.5]
    assert output_weights([1, 1], 2) == [1.0, 1.0]
    with pytest.raises(ReprozooError, match="2 outputs"):
        output_weights([1.0], 2)


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variants_loss_and_gradients_are_finite(variant: str) -> None:
    torch.manual_seed(0)
    cfg = _cfg(variant)
    module = PoseModule(cfg, geometry=None)
    width, height = cfg.image.width, cfg.image.height
    batch = {"image": torch.rand(2, 3, height, width), "keypoints": torch.rand(2, 9, 2) * torch.tensor([width - 1.0, height - 1.0])}
    logits = module(batch["image"])
    terms = module.loss_terms(batch, logits)
    assert len(logits) == len(module.strides) == len(module.weights)
    per_output = module.heatmap_losses(logits, batch["keypoints"])
    assert torch.isclose(terms["loss_h"], sum(w * l for w, l in zip(module.weights, per_output)))
    assert (len(per_output) > 1) == ("loss_h1" in terms)
    terms["loss"].backward()
    grads = [p.grad for p in module.parameters()]
    assert torch.isfinite(terms["loss"]) and all(g is not None and torch.isfinite(g).all() for g in grads)
    with torch.no_grad():
        module.eval()
        keypoints = module.keypoints(batch["image"])
        exported = KeypointPredictor(module.net, module.strides, module.aggregation, module.temperature).eval()
        assert keypoints.shape == (2, 9, 2) and torch.allclose(exported(batch["image"]), keypoints)
