"""The pose paper's LightningModule: images → heatmaps → keypoints (centre of mass) → pose by PnP.

Variant `hrnet-lh` trains with the heatmap loss l_h only; validation decodes keypoints and solves PnP so that the
pose metrics of the report are followed during training. Batches are those of `datamodule.PoseDataModule`.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from reprozoo.errors import ReprozooError
from reprozoo.geometry import pose_metrics
from reprozoo.papers.pose.datamodule import Geometry
from reprozoo.papers.pose.heatmaps import centre_of_mass, gaussian_targets, heatmap_l1, spatial_softmax
from reprozoo.papers.pose.hrnet import HRNet
from reprozoo.papers.pose.posing import solve_poses


class TrainingDivergedError(ReprozooError):
    """The loss became NaN or infinite."""


def build_network(model_cfg) -> torch.nn.Module:
    """The heatmap network named by `model.arch`."""
    if model_cfg.arch != "hrnet":
        raise ReprozooError(f"model.arch '{model_cfg.arch}': unknown (known: hrnet)")
    return HRNet(
        num_keypoints=model_cfg.num_keypoints,
        stem_channels=model_cfg.stem_channels,
        stem_units=model_cfg.stem_units,
        widths=tuple(model_cfg.widths),
        modules=tuple(model_cfg.modules),
        blocks=model_cfg.blocks,
    )


class PoseModule(pl.LightningModule):
    """Heatmap keypoint regressor with PnP-based pose metrics."""

    def __init__(self, cfg, geometry: Geometry) -> None:
        super().__init__()
        self.cfg = cfg
        self.geometry = geometry
        self.net = build_network(cfg.model)
        self.stride = int(cfg.heatmap.stride)
        self._val: list[dict[str, torch.Tensor]] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, 3, H, W] in [0, 1] → heatmap logits [B, K, H/stride, W/stride]."""
        return self.net(images)

    def heatmaps(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised heatmaps [B, K, h, w] (spatial softmax of the logits)."""
        return spatial_softmax(self(images), self.cfg.heatmap.temperature)

    def keypoints(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted keypoints [B, K, 2] in image pixels."""
        return centre_of_mass(self.heatmaps(images), self.stride)

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.heatmaps(batch["image"])
        h, w = maps.shape[-2:]
        targets = gaussian_targets(batch["keypoints"], h, w, self.stride, self.cfg.heatmap.std_percent)
        return heatmap_l1(maps, targets), maps

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"variant {self.cfg.variant.name}: loss is {loss.item()} at epoch {self.current_epoch}, step {self.global_step}"
            )
        self.log("train/loss_h", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, maps = self._loss(batch)
        self.log("val/loss_h", loss, on_epoch=True)
        self._val.append({k: v.detach().cpu() for k, v in
                          {"pred": centre_of_mass(maps, self.stride), "true": batch["keypoints"], "R": batch["R"], "t": batch["t"]}.items()})

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        gathered = {k: torch.cat([v[k] for v in self._val]) for k in self._val[0]}
        self._val.clear()
        for name, value in validation_metrics(gathered, self.geometry).items():
            self.log(f"val/{name}", value, prog_bar=name in ("kpt_err_px", "add5"))

    def configure_optimizers(self):
        o = self.cfg.optim
        return torch.optim.Adam(self.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)


def validation_metrics(batch: dict[str, torch.Tensor], geometry: Geometry) -> dict[str, float]:
    """Keypoint and pose metrics of predicted keypoints `pred` [B, K, 2] vs `true`, with poses by OpenCV PnP."""
    err = torch.linalg.vector_norm(batch["pred"] - batch["true"], dim=-1)  # [B, K]
    R, t, ok = solve_poses(batch["pred"].double().numpy(), geometry.keypoints3d.numpy(), geometry.K.numpy())
    errors = pose_metrics.per_sample_errors(
        batch["R"], batch["t"], torch.from_numpy(R), torch.from_numpy(t), geometry.surface_points, geometry.K
    )
    summary = pose_metrics.summarize(errors, geometry.diameter, (5,))
    return {
        "kpt_err_px": err.mean().item(),
        "pck2": 100.0 * (err < 2).double().mean().item(),
        "add5": summary["add5"],
        "acc5": summary["acc5"],
        "npe_median": summary["npe_median"],
        "pnp_failure_rate": 100.0 * (1.0 - ok.mean()),
    }
