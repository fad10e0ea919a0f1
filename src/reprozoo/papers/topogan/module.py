"""TopoGAN's LightningModule: WGAN-GP with DCGAN backbones plus λ · the topological GAN loss (spec §3, §4.6).

Manual optimisation, as the released code: every training batch is one critic step,
    L_D = E[D(G(z))] − E[D(x)] + gp_weight · E[(‖∇D(x̂)‖₂ − 1)²],   x̂ = αx + (1 − α)G(z),
and every `n_critic`-th batch (the first included) is also a generator step on a fresh fake batch,
    L_G = −E[D(G(z))] + λ · L_topo,
where L_topo (`reprozoo.topology.topo_loss`: diagrams of the binarised batch → OT matching to a random subset of
`n_real` precomputed real diagrams → point matching → bridge painting → sum-reduced surrogate) is computed only when
λ = `loss.topo_weight` > 0. Its homology dimension is the dataset's `topology.dim` (recorded in `dataset.json` by
preprocess, with the real diagrams): 1 closes almost-holes (membranes, roads, facades), 0 joins surplus components
(vessels). Variants differ only in config: `wgan-gp` (λ = 0), `topogan` (λ = 5e-4, or the dataset's
`topology.topo_weight`), `wgan-sn` (spectrally normalised critic).

The generator's batch is drawn right after the previous generator step (its graph kept): critic steps do not change
G, so G(z) is the batch the step would draw, and its bridge plan (the whole non-differentiable part of L_topo) is
computed in a background thread, with the diagrams in a `DiagramPool`, while the n_critic critic steps run. The
generator step then only adds the surrogate's forward and backward (see benchmarks/topo_loss.py).

Validation generates one fixed-z batch per epoch and logs the Betti score (β of the dataset's dimension) against the
validation split, the mean Betti numbers, and `val/g_steps`, the checkpoint monitor: the kept weights are the last
ones (the paper compares runs after the same number of iterations); every `figures.every_n_epochs` it logs a sample
grid to MLflow. Under DDP the real masks' Betti numbers are gathered from every process (the generated ones come from
fixed latents, the same in every process), so all processes log the same numbers.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import lightning.pytorch as pl
import numpy as np
import torch

from reprozoo.errors import ReprozooError
from reprozoo.papers.topogan import figures
from reprozoo.papers.topogan.metrics import betti_score
from reprozoo.papers.topogan.networks import Critic, Generator
from reprozoo.topology import Diagram, DiagramPool, betti_numbers, binarise


class TrainingDivergedError(ReprozooError):
    """A loss became NaN or infinite."""


def gradient_penalty(critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[(‖∇_x̂ D(x̂)‖₂ − 1)²] on x̂ = αx + (1 − α)G(z), α ~ U(0, 1) per sample; real, fake [B, 1, S, S]."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    norm = torch.sqrt(grad.flatten(1).pow(2).sum(dim=1) + 1e-12)
    return ((norm - 1.0) ** 2).mean()


def fixed_latents(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """The same n latents [n, z_dim] ~ N(0, I) for every run with this seed (CPU generator)."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


class TopoGANModule(pl.LightningModule):
    """WGAN-GP / WGAN-SN / TopoGAN on mask patches; `real_diagrams` are the training split's (precomputed, of dimension `dim`)."""

    def __init__(self, cfg, size: int, dim: int, real_diagrams: list[Diagram]) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.cfg, self.dim = cfg, dim
        self.generator = Generator(size, int(cfg.model.z_dim), int(cfg.model.ngf))
        self.critic = Critic(size, int(cfg.model.ndf), bool(cfg.model.spectral_norm))
        self.topo_weight = float(cfg.loss.topo_weight)
        self.real_diagrams = real_diagrams
        self.threshold = float(cfg.topo.threshold)
        self.d_steps = 0
        self.g_steps = 0
        self._subset_rng = np.random.default_rng(int(cfg.seed))
        self._pool: DiagramPool | None = None
        self._planner: ThreadPoolExecutor | None = None
        self._next: tuple[torch.Tensor, Future | None] | None = None  # the next generator batch and its bridge plan
        self._val_real: list[np.ndarray] = []

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, z_dim] → generator outputs [B, 1, S, S] in (−1, 1)."""
        return self.generator(z)

    def on_fit_start(self) -> None:
        if self.trainer.world_size > 1:  # every process was seeded alike: give each its own latents and GP mixes
            torch.manual_seed(torch.initial_seed() + self.global_rank)
        if self.topo_weight > 0:
            self._planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="topo-plan")
            if int(self.cfg.topo.workers) > 1:
                self._pool = DiagramPool(int(self.cfg.topo.workers))

    def teardown(self, stage: str) -> None:
        self._next = None
        if self._planner is not None:
            self._planner.shutdown(wait=True, cancel_futures=True)
            self._planner = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _latents(self, n: int) -> torch.Tensor:
        return torch.randn(n, int(self.cfg.model.z_dim), device=self.device)

    def _check(self, name: str, value: torch.Tensor) -> None:
        if not torch.isfinite(value):
            raise TrainingDivergedError(f"variant {self.cfg.variant.name}: {name} is {value.item()} at epoch {self.current_epoch}, critic step {self.d_steps}")

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        real = batch["mask"]
        with torch.no_grad():
            fake = self.generator(self._latents(real.shape[0]))
        with self.toggled_optimizer(opt_d):
            score_real, score_fake = self.critic(real).mean(), self.critic(fake).mean()
            penalty = gradient_penalty(self.critic, real, fake)
            d_loss = score_fake - score_real + float(self.cfg.loss.gp_weight) * penalty
            self._check("critic loss", d_loss)
            opt_d.zero_grad()
            self.manual_backward(d_loss)
            opt_d.step()
        self.log_dict({"train/d_loss": d_loss.detach(), "train/wasserstein": (score_real - score_fake).detach(), "train/gp": penalty.detach()}, on_step=True, on_epoch=True)
        if self.d_steps % int(self.cfg.loss.n_critic) == 0:
            self._generator_step(real.shape[0], opt_g)
        self.d_steps += 1

    def _generator_step(self, batch_size: int, opt_g) -> None:
        if self._next is None or self._next[0].shape[0] != batch_size:
            self._draw_generator_batch(batch_size)
        fake, plan = self._next
        self._next = None
        with self.toggled_optimizer(opt_g):
            adversarial = -self.critic(fake).mean()
            loss = adversarial
            if plan is not None:
                loss = loss + self.topo_weight * self._topo_loss(fake, plan)
            self._check("generator loss", loss)
            opt_g.zero_grad()
            self.manual_backward(loss)
            opt_g.step()
        self.g_steps += 1
        self.log("train/g_loss", adversarial.detach(), on_step=True, on_epoch=True, prog_bar=True)
        self._draw_generator_batch(batch_size)

    def _draw_generator_batch(self, batch_size: int) -> None:
        """Draw the next generator batch G(z) [B, 1, S, S] (graph kept) and start planning its bridges (λ > 0)."""
        fake = self.generator(self._latents(batch_size))
        plan = None
        if self.topo_weight > 0:
            from reprozoo.topology import topo_loss

            n_real = min(int(self.cfg.topo.n_real), len(self.real_diagrams))
            chosen = self._subset_rng.choice(len(self.real_diagrams), size=n_real, replace=False)
            t = self.cfg.topo
            plan = self._planner.submit(
                topo_loss, fake.detach().cpu(), [self.real_diagrams[i] for i in chosen], dim=self.dim, threshold=self.threshold,
                mode=str(t.mode), variant=str(t.surrogate), thickness=int(t.thickness), min_persistence=float(t.min_persistence),
                pool=self._pool,
            )
        self._next = (fake, plan)

    def _topo_loss(self, fake: torch.Tensor, plan: Future) -> torch.Tensor:
        """L_topo of the generator batch [B, 1, S, S] from its (background-computed) `topo_loss` result; logs its parts."""
        from reprozoo.topology import surrogate_loss

        result = plan.result()
        loss = surrogate_loss(fake, result.plan, variant=str(self.cfg.topo.surrogate))
        self.log_dict({
            "train/topo_loss": loss.detach(),
            "train/topo_w1": float(result.matching.matched_cost.mean()),
            "train/topo_bridges": float(result.plan.n_points),
        }, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        masks = binarise(batch["mask"][:, 0].cpu().numpy(), 0.0)
        self._val_real.append(betti_numbers(masks, dim=self.dim))

    def on_validation_epoch_end(self) -> None:
        if not self._val_real:
            return
        real = np.concatenate(self._val_real)
        self._val_real.clear()
        if self.trainer.world_size > 1:
            real = self.all_gather(torch.from_numpy(real).to(self.device)).flatten(0, 1).cpu().numpy()
        z = fixed_latents(len(real), int(self.cfg.model.z_dim), int(self.cfg.evaluate.z_seed) + 1).to(self.device)
        with torch.no_grad():
            images = self.generator(z)[:, 0].cpu().numpy()
        generated = betti_numbers(binarise(images, self.threshold), dim=self.dim)
        self.log_dict({
            "val/betti_score": betti_score(generated, real),
            f"val/betti{self.dim}_generated": float(generated.mean()),
            f"val/betti{self.dim}_real": float(real.mean()),
            "val/g_steps": float(self.g_steps),
        }, sync_dist=True)  # equal in every process already; sync_dist tells Lightning so (a mean of equal values)
        every = int(self.cfg.figures.every_n_epochs)
        if every > 0 and (self.current_epoch + 1) % every == 0:
            self._log_samples(images)

    def _log_samples(self, images: np.ndarray) -> None:
        """Log a grid of fixed-z samples [n, S, S] (tanh range) to the MLflow run, when MLflow is the logger (rank zero)."""
        from lightning.pytorch.loggers import MLFlowLogger

        if not isinstance(self.logger, MLFlowLogger) or not self.trainer.is_global_zero:
            return
        n = min(int(self.cfg.figures.n_images), len(images))
        fig = figures.sample_grid(None, (images[:n] + 1) / 2, title=f"epoch {self.current_epoch}, {self.g_steps} generator steps")
        self.logger.experiment.log_figure(self.logger.run_id, fig, f"figures/train/samples_epoch{self.current_epoch:03d}.png")
        import matplotlib.pyplot as plt

        plt.close(fig)

    def configure_optimizers(self):
        o = self.cfg.optim
        return [torch.optim.Adam(net.parameters(), lr=float(o.lr), betas=tuple(o.betas)) for net in (self.generator, self.critic)]
