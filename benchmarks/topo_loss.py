"""Share of TopoGAN's topological loss in one generator step (CPU), with its breakdown.

One generator step = G forward, critic forward, L_G = −E[D(G(z))] + λ·L_topo, backward, Adam step (spec §4.6). The
topological part is timed by stage, exactly the chain of `reprozoo.topology.topo_loss` (asserted equal):
  persistence  binarise the batch + its diagrams through the batched path (`diagrams(..., pool=DiagramPool)`);
  matching     W1 matrix to `n_real` cached real diagrams + `ot.emd` set matching + point matchings;
  painting     bridge plan + surrogate forward (its backward is inside the step's one backward pass).
Two schedules: "inline" computes L_topo inside the generator step; "prefetched" is what `TopoGANModule` does: the
generator batch is drawn right after the previous generator step and `topo_loss` runs in a background thread (diagrams
in the pool) during the n_critic critic steps, so the step itself only waits for it (if it is not done) and runs the
surrogate. The loss sees realistic masks: the generator output is replaced, straight-through, by broken Voronoi
membranes (almost-holes to close), so gradients still flow into G. Real diagrams are computed once, before timing,
as preprocess does.

Usage: PYTHONPATH=src python benchmarks/topo_loss.py [--size 64] [--batch 32] [--widths 64 16] [--threads 1]
Prints a markdown table (medians over the repeats).
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from reprozoo.papers.topogan.data import synthmembranes
from reprozoo.papers.topogan.module import gradient_penalty
from reprozoo.papers.topogan.networks import Critic, Generator
from reprozoo.topology import DiagramPool, binarise, diagrams, match_diagram_sets, match_points, plan_bridges, surrogate_loss, topo_loss

VORONOI = {"cells": (4, 12), "min_distance": 0.15, "thickness": (1, 2)}


def membranes(n: int, size: int, seed: int, broken: bool) -> np.ndarray:
    """bool [n, size, size] Voronoi membrane masks, with cut walls when `broken`."""
    family = "broken" if broken else "voronoi"
    return np.stack([synthmembranes.draw_mask(family, np.random.default_rng([seed, i]), size, {"voronoi": VORONOI}) for i in range(n)])


class Step:
    """One generator step of a DCGAN pair, with or without the topological loss, timing its stages."""

    def __init__(self, size: int, width: int, z_dim: int, batch: int, fake_masks: np.ndarray, real: list, pool: DiagramPool, lam: float = 5e-4) -> None:
        self.g, self.d = Generator(size, z_dim, width), Critic(size, width)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.z_dim, self.batch, self.real, self.pool, self.lam = z_dim, batch, real, pool, lam
        self.target = torch.where(torch.from_numpy(fake_masks), -0.9, 0.9)[:, None].float()
        self.real_images = torch.where(torch.from_numpy(fake_masks), -1.0, 1.0)[:, None].float()
        self.times: dict[str, float] = {}

    def _images(self) -> torch.Tensor:
        fake = self.g(torch.randn(self.batch, self.z_dim))
        return fake + (self.target - fake).detach()  # the values of broken membranes, the gradient of G

    def _topo(self, images: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        masks = binarise(images.detach().numpy()[:, 0], 0.0)
        synthetic = diagrams(masks, dim=1, pool=self.pool)
        t1 = time.perf_counter()
        matching = match_diagram_sets(synthetic, self.real)
        targets = [match_points(dgm, self.real[j]) for dgm, j in zip(synthetic, matching.assignment, strict=True)]
        t2 = time.perf_counter()
        loss = surrogate_loss(images, plan_bridges(masks, synthetic, targets, thickness=4), variant="bce")
        t3 = time.perf_counter()
        self.times = {"persistence": t1 - t0, "matching": t2 - t1, "painting": t3 - t2}
        return loss

    def generator_step(self, topo: bool) -> float:
        """Wall seconds of one generator step."""
        start = time.perf_counter()
        for p in self.d.parameters():
            p.requires_grad_(False)
        images = self._images()
        loss = -self.d(images).mean()
        if topo:
            loss = loss + self.lam * self._topo(images)
        self.opt_g.zero_grad()
        loss.backward()
        self.opt_g.step()
        for p in self.d.parameters():
            p.requires_grad_(True)
        return time.perf_counter() - start

    def critic_step(self) -> float:
        """Wall seconds of one WGAN-GP critic step."""
        start = time.perf_counter()
        with torch.no_grad():
            fake = self.g(torch.randn(self.batch, self.z_dim))
        loss = self.d(fake).mean() - self.d(self.real_images).mean() + 10 * gradient_penalty(self.d, self.real_images, fake)
        self.opt_d.zero_grad()
        loss.backward()
        self.opt_d.step()
        return time.perf_counter() - start

    def prefetched_iteration(self, executor: ThreadPoolExecutor, n_critic: int) -> tuple[float, float]:
        """Wall seconds of (n_critic critic steps, the generator step) with L_topo planned in the background."""
        fake = self._images()
        plan = executor.submit(topo_loss, fake.detach(), self.real, pool=self.pool)
        start = time.perf_counter()
        for _ in range(n_critic):
            self.critic_step()
        middle = time.perf_counter()
        for p in self.d.parameters():
            p.requires_grad_(False)
        loss = -self.d(fake).mean() + self.lam * surrogate_loss(fake, plan.result().plan, variant="bce")
        self.opt_g.zero_grad()
        loss.backward()
        self.opt_g.step()
        for p in self.d.parameters():
            p.requires_grad_(True)
        self._images()  # the next batch's draw belongs to this step (its submit is at the top of the next call)
        return middle - start, time.perf_counter() - middle

    def check_same_as_topo_loss(self) -> None:
        """The timed chain computes what `topo_loss` computes."""
        images = self.target.clone().requires_grad_(True)
        ours = self._topo(images)
        reference = topo_loss(images, self.real, pool=self.pool).loss
        torch.testing.assert_close(ours, reference)


def median_ms(samples: list[float]) -> float:
    return 1e3 * statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n-real", type=int, default=750)
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 16], help="ngf = ndf of the DCGAN pair")
    parser.add_argument("--z-dim", type=int, default=128)
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="DiagramPool processes")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    real_masks = membranes(args.n_real, args.size, seed=1, broken=False)
    fake_masks = membranes(args.batch, args.size, seed=2, broken=True)
    rows = []
    with DiagramPool(args.workers) as pool, ThreadPoolExecutor(max_workers=1) as executor:
        start = time.perf_counter()
        real = diagrams(real_masks, dim=1, pool=pool)  # the cache preprocess writes once
        cache_ms = 1e3 * (time.perf_counter() - start)
        for width in args.widths:
            step = Step(args.size, width, args.z_dim, args.batch, fake_masks, real, pool)
            step.check_same_as_topo_loss()
            for _ in range(2):
                step.generator_step(True), step.generator_step(False), step.critic_step()
            plain, inline, critic, prefetched, critics = [], [], [], [], []
            parts: dict[str, list[float]] = {"persistence": [], "matching": [], "painting": []}
            for _ in range(args.repeats):
                plain.append(step.generator_step(False))
                inline.append(step.generator_step(True))
                for name, seconds in step.times.items():
                    parts[name].append(seconds)
                critic.append(step.critic_step())
                critic_seconds, g_seconds = step.prefetched_iteration(executor, args.n_critic)
                critics.append(critic_seconds)
                prefetched.append(g_seconds)
            rows.append({
                "width": width, "plain": median_ms(plain), "inline": median_ms(inline), "critic": median_ms(critic),
                "prefetched": median_ms(prefetched), "critics_prefetched": median_ms(critics),
                **{name: median_ms(values) for name, values in parts.items()},
            })
    points = np.mean([len(d) for d in diagrams(fake_masks)])
    print(f"{args.size}×{args.size}, batch {args.batch}, n_real {args.n_real} cached real diagrams (computed once in {cache_ms:.0f} ms), "
          f"DiagramPool({args.workers}), torch threads {args.threads}, {points:.1f} points per generated diagram, n_critic {args.n_critic}, "
          f"median of {args.repeats}\n")
    print("| ngf = ndf | G step, no L_topo (ms) | G step + L_topo inline (ms) | L_topo share, inline | persistence | matching | painting "
          "| G step + L_topo prefetched (ms) | L_topo share, prefetched | iteration (n_critic D + G): no L_topo → prefetched (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        topo = r["persistence"] + r["matching"] + r["painting"]
        part = lambda name: f"{100 * r[name] / r['inline']:.0f} % ({r[name]:.0f} ms)"  # noqa: E731
        base_iteration = args.n_critic * r["critic"] + r["plain"]
        iteration = r["critics_prefetched"] + r["prefetched"]
        print(f"| {r['width']} | {r['plain']:.0f} | {r['inline']:.0f} | {100 * topo / r['inline']:.0f} % | {part('persistence')} | {part('matching')} "
              f"| {part('painting')} | {r['prefetched']:.0f} | {100 * max(r['prefetched'] - r['plain'], 0.0) / r['prefetched']:.0f} % "
              f"| {base_iteration:.0f} → {iteration:.0f} (+{100 * (iteration / base_iteration - 1):.0f} %) |")


if __name__ == "__main__":
    main()
