"""The pose paper's LightningModule: images → heatmaps → keypoints (centre of mass) → pose by PnP.

The network (`model.arch`: hrnet, higherhrnet, hourglass) returns a list of logit maps, one per output, with their
strides in `net.strides`. Training sums the heatmap loss l_h of every output with weights (`heatmap.output_weights`:
HigherHRNet's 1/4 and 1/2 maps, each hourglass stack); inference aggregates the outputs into one map per keypoint
(`model.aggregate`, see `heatmaps.aggregate`) and decodes it by centre of mass. Variant `*-lh` trains with l_h only.
The BPnP variants (spec §3) put the differentiable PnP layer (`geometry.pnp`, `pnp.method`) after the decoded keypoints x:
`l_m = l_h + β·l_proj` and `l_p = w_reg·l_reg + w_proj·l_proj`, with l_proj = MSE(π(z|ŷ,K), x*) and
l_reg = MSE(π(z|ŷ,K), x) over the samples whose PnP converged. β is raw (`loss.beta`) or the scale-free ratio
ρ (`loss.rho`): β = ρ·E[l_h]/E[l_proj] measured over the phase's first `loss.rho_batches` batches, then frozen.
Validation decodes keypoints and solves PnP so that the pose metrics of the report are followed during training.
Under DDP (`trainer=ddp`) the validation losses are averaged over the processes and the pose metrics computed on the
predictions of every process, so that all of them log, and their checkpoint callbacks select, the same numbers; the
calibration of β averages the processes' losses.
Batches are those of `datamodule.PoseDataModule`. The optimiser is Adam or AdamW (`optim.name`) with a per-step learning
rate schedule (`optim.schedule`, see `lr_factor`); `threads` and `channels_last` set how the CPU runs it (`setup`).
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch import nn

from reprozoo.errors import ReprozooError
from reprozoo.geometry import pose_metrics
from reprozoo.geometry.pnp import project, solve_pnp
from reprozoo.papers.pose.datamodule import Geometry
from reprozoo.papers.pose.heatmaps import AGGREGATIONS, aggregate, centre_of_mass, gaussian_targets, heatmap_loss
from reprozoo.papers.pose.higherhrnet import HigherHRNet
from reprozoo.papers.pose.hourglass import StackedHourglass
from reprozoo.papers.pose.hrnet import HRNet
from reprozoo.papers.pose.posing import solve_poses


class TrainingDivergedError(ReprozooError):
    """The loss became NaN or infinite."""


def _hrnet_sizes(model_cfg) -> dict:
    return {
        "stem_channels": model_cfg.stem_channels,
        "stem_units": model_cfg.stem_units,
        "widths": tuple(model_cfg.widths),
        "modules": tuple(model_cfg.modules),
        "blocks": model_cfg.blocks,
    }


def build_network(model_cfg) -> nn.Module:
    """The heatmap network named by `model.arch`: images [B, 3, H, W] → list of logits [B, K, H/s, W/s], s in `net.strides`."""
    k = model_cfg.num_keypoints
    if model_cfg.arch == "hrnet":
        return HRNet(k, **_hrnet_sizes(model_cfg))
    if model_cfg.arch == "higherhrnet":
        return HigherHRNet(k, model_cfg.deconv_channels, model_cfg.deconv_blocks, **_hrnet_sizes(model_cfg))
    if model_cfg.arch == "hourglass":
        return StackedHourglass(k, model_cfg.stacks, model_cfg.depth, model_cfg.channels)
    raise ReprozooError(f"model.arch '{model_cfg.arch}': unknown (known: hrnet, higherhrnet, hourglass)")


def output_weights(weights, n_outputs: int) -> list[float]:
    """Loss weight of each network output: the configured list, or 1/n each when None (moai's default, which the reproducers ran)."""
    if weights is None:
        return [1.0 / n_outputs] * n_outputs
    if len(weights) != n_outputs:
        raise ReprozooError(f"heatmap.output_weights {list(weights)}: the network has {n_outputs} outputs")
    return [float(w) for w in weights]


SCHEDULES = ("constant", "onecycle", "cosine")
OPTIMIZERS = ("adam", "adamw")


def lr_factor(schedule: str, step: int, total: int, warmup: float = 0.0, final: float = 0.0) -> float:
    """Learning rate of optimiser step `step` (0-based) of `total`, as a fraction of the peak `optim.lr`.

    constant: 1 throughout (the report's Adam at a fixed rate).
    onecycle: linear warm-up from `final` at step 0 to 1 at step round(warmup·total), then half a cosine down to
        `final` at the last step.
    cosine: no warm-up (`warmup` ignored): half a cosine from 1 at step 0 down to `final` at the last step.
    """
    if schedule == "constant":
        return 1.0
    if schedule not in SCHEDULES:
        raise ReprozooError(f"optim.schedule '{schedule}': unknown (known: {', '.join(SCHEDULES)})")
    total = max(int(total), 1)
    rise = min(int(round(warmup * total)), total - 1) if schedule == "onecycle" else 0
    if step < rise:
        return final + (1.0 - final) * step / rise
    progress = min((step - rise) / max(total - 1 - rise, 1), 1.0)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_threads(threads) -> None:
    """torch's intra-op threads: `threads` (an int), or leave torch's default (one per core) when None.

    On a shared 2-core machine two OpenMP threads stall at every barrier when another job takes a core (a train step
    measured 3-5x slower); one thread keeps the speed of the free core.
    """
    if threads is not None and int(threads) != torch.get_num_threads():
        torch.set_num_threads(int(threads))


class PoseModule(pl.LightningModule):
    """Heatmap keypoint regressor with PnP-based pose metrics."""

    def __init__(self, cfg, geometry: Geometry) -> None:
        super().__init__()
        self.cfg = cfg
        self.geometry = geometry
        self.net = build_network(cfg.model)
        self.strides: tuple[int, ...] = tuple(self.net.strides)
        self.aggregation = str(cfg.model.aggregate)
        if self.aggregation not in AGGREGATIONS:
            raise ReprozooError(f"model.aggregate '{self.aggregation}': unknown (known: {', '.join(AGGREGATIONS)})")
        self.temperature = float(cfg.heatmap.temperature)
        self.heatmap_kind = str(cfg.heatmap.loss)
        if self.heatmap_kind not in ("l1", "mse", "kl"):
            raise ReprozooError(f"heatmap.loss '{self.heatmap_kind}': unknown (known: l1, mse, kl)")
        self.weights = output_weights(cfg.heatmap.output_weights, len(self.strides))
        self.loss_kind = str(cfg.variant.loss)
        if self.loss_kind not in ("lh", "lm", "lp"):
            raise ReprozooError(f"variant.loss '{self.loss_kind}': unknown (known: lh, lm, lp)")
        o = cfg.optim
        self.optimizer_name, self.schedule = str(o.get("name", "adam")), str(o.get("schedule", "constant"))
        if self.optimizer_name not in OPTIMIZERS:
            raise ReprozooError(f"optim.name '{self.optimizer_name}': unknown (known: {', '.join(OPTIMIZERS)})")
        if self.schedule not in SCHEDULES:
            raise ReprozooError(f"optim.schedule '{self.schedule}': unknown (known: {', '.join(SCHEDULES)})")
        self.channels_last = False  # set by `setup` from `channels_last`
        self._rho_sums = [0.0, 0.0, 0]  # Σ l_h, Σ l_proj, batches: calibration of β from ρ
        self._val: list[dict[str, torch.Tensor]] = []

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """images [B, 3, H, W] in [0, 1] → logits [B, K, H/s, W/s] for each output stride s in `self.strides`."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.net(images)

    def decode(self, logits: list[torch.Tensor]) -> tuple[torch.Tensor, int]:
        """The outputs' aggregate: (normalised maps [B, K, h, w], their stride)."""
        return aggregate(logits, self.strides, self.aggregation, self.temperature)

    def keypoints(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted keypoints [B, K, 2] in image pixels."""
        return centre_of_mass(*self.decode(self(images)))

    def heatmap_losses(self, logits: list[torch.Tensor], keypoints: torch.Tensor) -> list[torch.Tensor]:
        """l_h of each output: L1 between its softmax heatmaps and Gaussian targets [B, K, h, w] at its own stride."""
        losses = []
        for x, stride in zip(logits, self.strides):
            h, w = x.shape[-2:]
            targets = gaussian_targets(keypoints, h, w, stride, self.cfg.heatmap.std_percent)
            losses.append(heatmap_loss(x, targets, self.heatmap_kind, self.temperature))
        return losses

    def loss_terms(self, batch: dict[str, torch.Tensor], logits: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Named scalar terms; `loss` is the one optimised. `loss_h` = Σ_i w_i·l_h(output i), with `loss_h<i>` per output
        when there are several (HigherHRNet: 0 = 1/4, 1 = 1/2; Hourglass: stack i)."""
        per_output = self.heatmap_losses(logits, batch["keypoints"])
        terms = {"loss_h": sum(w * loss for w, loss in zip(self.weights, per_output))}
        if len(per_output) > 1:
            terms.update({f"loss_h{i}": loss for i, loss in enumerate(per_output)})
        if self.loss_kind == "lh":
            terms["loss"] = terms["loss_h"]
            return terms
        terms.update(self.pnp_terms(centre_of_mass(*self.decode(logits)), batch["keypoints"]))
        if self.loss_kind == "lm":
            terms["beta"] = torch.as_tensor(self.beta(terms["loss_h"], terms["loss_proj"]), dtype=terms["loss_h"].dtype)
            terms["loss"] = terms["loss_h"] + terms["beta"] * terms["loss_proj"]
        else:
            terms["loss"] = self.cfg.loss.w_reg * terms["loss_reg"] + self.cfg.loss.w_proj * terms["loss_proj"]
        return terms

    def pnp_terms(self, pred: torch.Tensor, true: torch.Tensor) -> dict[str, torch.Tensor]:
        """l_proj, l_reg (MSE in pixels² over converged samples) and the PnP failure rate of a batch.

        Args:
            pred: [B, K, 2] decoded keypoints (differentiable).
            true: [B, K, 2] ground-truth keypoints.
        """
        kps3d = self.geometry.keypoints3d.to(pred.device)
        K = self.geometry.K.to(pred.device)
        result = solve_pnp(pred, kps3d, K, method=str(self.cfg.pnp.method), max_iter=int(self.cfg.pnp.max_iter))
        ok = result.converged
        reprojected = project(result.pose, kps3d.to(result.pose.dtype), K.to(result.pose.dtype)).to(pred.dtype)
        if ok.any():
            loss_proj = ((reprojected[ok] - true[ok]) ** 2).mean()
            loss_reg = ((reprojected[ok] - pred[ok]) ** 2).mean()
        else:  # nothing to learn from this batch's geometry: zero, but still connected to the graph
            loss_proj = loss_reg = (pred * 0.0).sum()
        return {"loss_proj": loss_proj, "loss_reg": loss_reg, "pnp_failure_rate": 1.0 - ok.double().mean()}

    def beta(self, loss_h: torch.Tensor, loss_proj: torch.Tensor) -> float:
        """β of l_m: `loss.beta`, or from `loss.rho` as ρ·E[l_h]/E[l_proj] over the first `loss.rho_batches` training batches."""
        if self.cfg.loss.rho is None:
            return float(self.cfg.loss.beta)
        sums = self._rho_sums
        if self.training and sums[2] < int(self.cfg.loss.rho_batches):
            sums[0] += self._process_mean(loss_h)
            sums[1] += self._process_mean(loss_proj)
            sums[2] += 1
        return float(self.cfg.loss.rho) * sums[0] / max(sums[1], 1e-12) if sums[2] else 0.0

    def _process_mean(self, value: torch.Tensor) -> float:
        """A scalar averaged over the processes of a distributed fit (every process calls it at the same step)."""
        value = value.detach()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            value = self.trainer.strategy.reduce(value, reduce_op="mean")
        return float(value)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        terms = self.loss_terms(batch, self(batch["image"]))
        loss = terms["loss"]
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"variant {self.cfg.variant.name}: loss is {loss.item()} at epoch {self.current_epoch}, step {self.global_step}"
            )
        for name, value in terms.items():
            self.log(f"train/{name}", value, prog_bar=name == "loss", on_step=True, on_epoch=True)
        if self.schedule != "constant":
            self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch["image"])
        for name, value in self.loss_terms(batch, logits).items():
            self.log(f"val/{name}", value, on_epoch=True, sync_dist=True)
        pred = centre_of_mass(*self.decode(logits))
        self._val.append({k: v.detach().cpu() for k, v in {"pred": pred, "true": batch["keypoints"], "R": batch["R"], "t": batch["t"]}.items()})

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        gathered = {k: torch.cat([v[k] for v in self._val]) for k in self._val[0]}
        self._val.clear()
        if self.trainer.world_size > 1:
            gathered = self._gather(gathered)
        for name, value in validation_metrics(gathered, self.geometry).items():
            # equal in every process already; sync_dist tells Lightning so (a mean of equal values)
            self.log(f"val/{name}", value, prog_bar=name in ("kpt_err_px", "add5"), sync_dist=True)

    def _gather(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every process's validation tensors [N, ...] → [world_size · N, ...] on the CPU (the distributed sampler
        gives each process the same N, repeating a few samples to pad the split)."""
        gathered = self.all_gather({k: v.to(self.device) for k, v in tensors.items()})
        return {k: v.flatten(0, 1).cpu() for k, v in gathered.items()}

    def setup(self, stage: str) -> None:
        """Lightning's hook before fit / validate / test: torch's intra-op threads (`threads`) and the network's memory
        layout (`channels_last`: NHWC weights and inputs, the same numbers, convolutions measured 20-30 % faster on CPU)."""
        set_threads(self.cfg.get("threads"))
        if self.cfg.get("channels_last"):
            self.net.to(memory_format=torch.channels_last)
            self.channels_last = True

    def on_fit_start(self) -> None:
        """Fine-tuning variants start from the weights of the run named by `init_from` (same dataset and seed)."""
        source = self.cfg.get("init_from")
        if source:
            if not Path(source).is_file():
                raise ReprozooError(f"{source}: missing; variant {self.cfg.variant.name} fine-tunes it (train that variant first)")
            self.load_state_dict(torch.load(source, map_location=self.device, weights_only=True))

    def configure_optimizers(self):
        """Adam / AdamW at peak rate `optim.lr`, scaled at every step by `lr_factor` over the fit's optimiser steps."""
        o = self.cfg.optim
        kind = torch.optim.AdamW if self.optimizer_name == "adamw" else torch.optim.Adam
        optimizer = kind(self.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        if self.schedule == "constant":
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        warmup, final = float(o.get("warmup", 0.0)), float(o.get("final", 0.0))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(self.schedule, step, total, warmup, final))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "name": "lr"}}


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
