"""The pose module's optimiser and CPU options: Adam / AdamW, the per-step learning-rate schedule, threads, channels_last."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from reprozoo.config import compose
from reprozoo.errors import ReprozooError
from reprozoo.papers.pose.module import PoseModule, lr_factor, set_threads
from tests.conftest import REPO


def _module(*overrides: str, profile: str = "smoke") -> PoseModule:
    cfg = compose(target="pose/hrnet-lh", dataset="toydrone-tello", profile=profile, overrides=list(overrides), root=REPO)
    return PoseModule(cfg, geometry=None)


def test_constant_schedule_keeps_the_peak_rate() -> None:
    assert all(lr_factor("constant", s, 10, 0.3, 0.01) == 1.0 for s in range(10))


def test_onecycle_warms_up_then_anneals_to_the_final_fraction() -> None:
    total, warmup, final = 100, 0.2, 0.01
    f = [lr_factor("onecycle", s, total, warmup, final) for s in range(total)]
    assert f[0] == pytest.approx(final)  # starts at lr·final
    assert f[20] == pytest.approx(1.0)  # the peak after the 20 warm-up steps
    assert all(a < b for a, b in zip(f[:20], f[1:21]))  # rising
    assert all(a > b for a, b in zip(f[20:], f[21:]))  # then falling
    assert f[-1] == pytest.approx(final)


def test_cosine_starts_at_the_peak_and_ignores_warmup() -> None:
    f = [lr_factor("cosine", s, 50, 0.5, 0.0) for s in range(50)]
    assert f[0] == pytest.approx(1.0) and f[-1] == pytest.approx(0.0, abs=1e-12)
    assert f[24] == pytest.approx(0.5 * (1 + math.cos(math.pi * 24 / 49)))


def test_unknown_schedule_or_optimiser_is_a_one_line_error() -> None:
    with pytest.raises(ReprozooError, match="optim.schedule 'step'"):
        lr_factor("step", 0, 10)
    with pytest.raises(ReprozooError, match="optim.schedule 'step'"):
        _module("optim.schedule=step")
    with pytest.raises(ReprozooError, match="optim.name 'sgd'"):
        _module("optim.name=sgd")


def test_configure_optimizers_steps_the_schedule_per_batch() -> None:
    module = _module("optim.schedule=onecycle", "optim.lr=4e-3", "optim.warmup=0.5", "optim.final=0.1", "optim.name=adamw", "optim.weight_decay=0.01")
    module.trainer = SimpleNamespace(estimated_stepping_batches=4)
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert isinstance(optimizer, torch.optim.AdamW) and config["lr_scheduler"]["interval"] == "step"
    rates = []
    for _ in range(4):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([4e-4, 4e-3 * 0.55, 4e-3, 4e-4])


def test_constant_schedule_is_plain_adam() -> None:
    module = _module("optim.schedule=constant")
    optimizer = module.configure_optimizers()
    assert type(optimizer) is torch.optim.Adam and optimizer.param_groups[0]["lr"] == module.cfg.optim.lr


def test_threads_setting() -> None:
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        set_threads(None)  # leaves it alone
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.filterwarnings("ignore:You defined a `validation_step`", "ignore:.*LeafSpec")
def test_a_lightning_fit_follows_the_schedule_step_by_step(tmp_path) -> None:
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    module = _module("optim.schedule=onecycle", "optim.lr=2e-3", "optim.warmup=0.25", "optim.final=0.05", "model.widths=[8,16]", "model.stem_channels=8")
    batches = [{"image": torch.rand(3, 96, 128), "keypoints": torch.rand(9, 2) * 90} for _ in range(8)]
    seen = []

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            seen.append(trainer.optimizers[0].param_groups[0]["lr"])

    before = torch.get_num_threads()
    trainer = pl.Trainer(max_epochs=2, limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[Record()], default_root_dir=str(tmp_path))
    try:
        trainer.fit(module, DataLoader(batches, batch_size=2))
        assert torch.get_num_threads() == 1  # `threads: 1` was applied by setup()
        assert module.channels_last and module.net.stem[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    finally:
        torch.set_num_threads(before)
    assert seen == pytest.approx([2e-3 * lr_factor("onecycle", s, 8, 0.25, 0.05) for s in range(8)])
    assert seen[2] == pytest.approx(2e-3) and seen[0] == pytest.approx(1e-4)


def test_the_profile_sets_the_peak_rate_per_loss() -> None:
    lh = compose(target="pose/hrnet-lh", dataset="toydrone-tello", profile="default", root=REPO)
    lm = compose(target="pose/hrnet-lm", dataset="toydrone-tello", profile="default", root=REPO)
    assert lh.optim.lr == lh.profile.pose.lr.lh and lm.optim.lr == lm.profile.pose.lr.lm
    assert lh.optim.schedule == lh.profile.pose.schedule
    smoke = compose(target="pose/hrnet-lp", dataset="toydrone-tello", profile="smoke", root=REPO)
    assert smoke.optim.lr == 1e-3  # no rate in the profile: the report's
    swept = compose(target="pose/hrnet-lp", dataset="toydrone-tello", profile="default", overrides=["optim.lr=5e-5"], root=REPO)
    assert swept.optim.lr == 5e-5  # a sweep's override is the rate used


@pytest.mark.parametrize("variant", ["hrnet-lh", "higherhrnet-lh", "hourglass-lh"])
def test_channels_last_gives_the_same_heatmaps(variant: str) -> None:
    torch.manual_seed(0)
    cfg = compose(target=f"pose/{variant}", dataset="toydrone-tello", profile="smoke", root=REPO)
    module = PoseModule(cfg, geometry=None).eval()
    images = torch.rand(2, 3, 96, 128)
    threads = torch.get_num_threads()
    try:
        with torch.no_grad():
            before = module(images)
            module.setup("fit")
            after = module(images)
    finally:
        torch.set_num_threads(threads)
    assert module.channels_last
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(before, after))
