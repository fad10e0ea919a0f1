"""The BPnP variants' losses: l_proj / l_reg through the differentiable PnP layer, β from ρ, fine-tuning start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reprozoo.config import compose
from reprozoo.errors import ReprozooError
from reprozoo.geometry.camera import intrinsics_from_fov, project_points
from reprozoo.papers.pose.data.drone_model import build_drone
from reprozoo.papers.pose.datamodule import Geometry
from reprozoo.papers.pose.data.render import sample_pose
from reprozoo.papers.pose.module import PoseModule

SMALL = ["model.widths=[8,16]", "model.stem_channels=8"]


def _geometry() -> Geometry:
    model = build_drone("large")
    K = intrinsics_from_fov(128, 96, 64.69)
    return Geometry(torch.from_numpy(K), torch.from_numpy(model.keypoints), torch.from_numpy(model.surface_samples), 0.354, 128, 96)


def _batch(geometry: Geometry, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Ground-truth keypoints [n, 9, 2] of sampled poses, and the images (noise) [n, 3, 96, 128]."""
    rng = np.random.default_rng(0)
    drone = build_drone("large")
    poses = [sample_pose(rng, drone, geometry.K.numpy(), 128, 96) for _ in range(n)]
    R = torch.from_numpy(np.stack([p[0] for p in poses]))
    t = torch.from_numpy(np.stack([p[1] for p in poses]))
    keypoints = project_points(geometry.keypoints3d, R, t, geometry.K).float()
    return keypoints, torch.rand(n, 3, 96, 128)


def _module(project: Path, variant: str, *extra: str) -> PoseModule:
    cfg = compose(target=f"pose/{variant}", dataset="toydrone-m2ed", overrides=[*SMALL, *extra], root=project)
    return PoseModule(cfg, _geometry())


@pytest.mark.parametrize("variant", ["hrnet-lm", "hrnet-lp", "hrnet-lp-fast", "hrnet-lm-epnp"])
def test_pnp_losses_are_finite_and_reach_the_network(project: Path, variant: str) -> None:
    module = _module(project, variant)
    keypoints, images = _batch(module.geometry)
    terms = module.loss_terms({"image": images, "keypoints": keypoints}, module(images))
    assert {"loss", "loss_h", "loss_proj", "loss_reg", "pnp_failure_rate"} <= terms.keys()
    assert all(torch.isfinite(v) for v in terms.values())
    terms["loss"].backward()
    grads = [p.grad for p in module.net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    expected = terms["loss_h"] + 1e-5 * terms["loss_proj"] if variant.startswith("hrnet-lm") else 0.5 * terms["loss_reg"] + 0.5 * terms["loss_proj"]
    assert torch.isclose(terms["loss"], expected)


def test_pnp_terms_vanish_for_exact_keypoints(project: Path) -> None:
    module = _module(project, "hrnet-lp")
    keypoints, _ = _batch(module.geometry)
    terms = module.pnp_terms(keypoints.double(), keypoints.double())
    assert terms["pnp_failure_rate"] == 0
    assert terms["loss_proj"] < 1e-10 and terms["loss_reg"] < 1e-10
    shifted = keypoints.double().clone()
    shifted[:, 3] += torch.tensor([2.0, -1.0], dtype=torch.float64)  # one keypoint 2.2 px off: PnP spreads the error
    terms = module.pnp_terms(shifted, keypoints.double())
    assert 0 < terms["loss_proj"] < 5.0 / 18 and terms["loss_reg"] > 0


def test_beta_from_rho_is_calibrated_then_frozen(project: Path) -> None:
    module = _module(project, "hrnet-lm", "loss.rho=0.25", "loss.rho_batches=2")
    module.train()
    assert module.beta(torch.tensor(2.0), torch.tensor(8.0)) == pytest.approx(0.25 * 2.0 / 8.0)
    assert module.beta(torch.tensor(4.0), torch.tensor(4.0)) == pytest.approx(0.25 * 6.0 / 12.0)
    assert module.beta(torch.tensor(100.0), torch.tensor(1.0)) == pytest.approx(0.25 * 6.0 / 12.0)  # frozen after 2 batches
    assert _module(project, "hrnet-lm").beta(torch.tensor(1.0), torch.tensor(1.0)) == 1e-5  # raw β by default


def test_fine_tuning_starts_from_the_lh_weights(project: Path, tmp_path: Path) -> None:
    source = _module(project, "hrnet-lh")
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    module = _module(project, "hrnet-lm", f"init_from={path}")
    module.on_fit_start()
    assert all(torch.equal(a, b) for a, b in zip(module.state_dict().values(), source.state_dict().values()))
    missing = _module(project, "hrnet-lm", f"init_from={tmp_path / 'absent.pt'}")
    with pytest.raises(ReprozooError, match="absent.pt: missing; variant hrnet-lm fine-tunes it"):
        missing.on_fit_start()
    assert _module(project, "hrnet-lm").cfg.init_from.endswith("models/pose/hrnet-lh/toydrone-m2ed/seed0/weights.pt")
