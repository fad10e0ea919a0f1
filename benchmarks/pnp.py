"""Benchmark of the differentiable PnP layer (reprozoo.geometry.pnp) against a loop of cv2.solvePnP.

For B ∈ {1, 32, 1024} and n ∈ {9, 32} keypoints, on CPU (and CUDA when available), times:
  * forward and forward+backward (loss = pose.sum(), gradient w.r.t. the float32 keypoints) of
    ``solve_pnp`` with method "bpnp", "bpnp-fast" and "epnp";
  * a Python loop of ``cv2.solvePnP(SOLVEPNP_ITERATIVE)`` over the same batch, in the same run.

Problems (drone-like): a shared model of n points in [-0.2, 0.2]³ m seen at 2-4 m by a 320x240
camera with a 60° field of view (f = 277 px), keypoint noise σ = 1 px, float32 keypoints (the layer
computes in float64).

Usage: PYTHONPATH=src python benchmarks/pnp.py [--threads 2] [--repeats 15] [--batches 1 32 1024] [--points 9 32]
       [--methods bpnp bpnp-fast epnp]
Prints the versions, thread counts, load average and a markdown table: median and minimum wall time
of the timed runs (after one warm-up run), and the median per pose.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import torch

from reprozoo.geometry.camera import intrinsics_from_fov
from reprozoo.geometry.pnp import project, solve_pnp

METHODS = ("bpnp", "bpnp-fast", "epnp")


def make_batch(B: int, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keypoints [B, n, 2] (float32, σ = 1 px), shared model [n, 3] and K [3, 3] (float64)."""
    g = torch.Generator().manual_seed(seed)
    x3d = (torch.rand(n, 3, generator=g, dtype=torch.float64) - 0.5) * 0.4
    K = torch.from_numpy(intrinsics_from_fov(320, 240, 60.0))
    axis = torch.randn(B, 3, generator=g, dtype=torch.float64)
    angle = torch.rand(B, 1, generator=g, dtype=torch.float64) * 2.5
    offset = torch.tensor([-0.5, -0.5, 2.0], dtype=torch.float64)
    t = torch.rand(B, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 1.0, 2.0]) + offset
    pose = torch.cat((axis / axis.norm(dim=-1, keepdim=True) * angle, t), -1)
    x2d = project(pose, x3d, K) + torch.randn(B, n, 2, generator=g, dtype=torch.float64)
    return x2d.float(), x3d, K


def timings(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> tuple[float, float]:
    """Median and minimum wall time (seconds) of ``fn`` over ``repeats`` runs after one warm-up run."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def opencv_loop(x2d: np.ndarray, x3d: np.ndarray, K: np.ndarray) -> None:
    """cv2.solvePnP(SOLVEPNP_ITERATIVE) for each sample of the batch."""
    for pts in x2d:
        cv2.solvePnP(x3d, pts, K, None, flags=cv2.SOLVEPNP_ITERATIVE)


def run(batches: list[int], points: list[int], repeats: int, methods: list[str]) -> list[dict[str, object]]:
    """Time every configuration; one row per (device, B, n, method)."""
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        for n in points:
            for B in batches:
                x2d, x3d, K = make_batch(B, n)
                reps = max(3, repeats // 3) if B >= 1024 else repeats
                x2d_np, x3d_np, K_np = x2d.double().numpy(), x3d.numpy(), K.numpy()
                cv_time = timings(lambda: opencv_loop(x2d_np, x3d_np, K_np), reps, lambda: None)
                x2d_d, x3d_d, K_d = x2d.to(device), x3d.to(device), K.to(device)
                for method in methods:
                    result = solve_pnp(x2d_d, x3d_d, K_d, method=method)
                    forward = timings(lambda: solve_pnp(x2d_d, x3d_d, K_d, method=method), reps, sync)
                    leaf = x2d_d.clone().requires_grad_()

                    def step() -> None:
                        solve_pnp(leaf, x3d_d, K_d, method=method).pose.sum().backward()

                    both = timings(step, reps, sync)
                    converged = float(result.converged.float().mean())
                    rows.append(dict(device=device, B=B, n=n, method=method, forward=forward, both=both,
                                     opencv=cv_time, converged=converged))
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    """The results as a markdown table (times in ms unless stated)."""
    lines = [
        "| device | B | n | method | fwd median | fwd min | fwd µs/pose | fwd+bwd median | fwd+bwd min "
        "| cv2 loop median | cv2 µs/pose | converged |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        B, (fwd, fwd_min), (both, both_min), (cv, _) = r["B"], r["forward"], r["both"], r["opencv"]
        lines.append(
            f"| {r['device']} | {B} | {r['n']} | {r['method']} | {fwd * 1e3:.2f} | {fwd_min * 1e3:.2f} "
            f"| {fwd * 1e6 / B:.1f} | {both * 1e3:.2f} | {both_min * 1e3:.2f} | {cv * 1e3:.2f} "
            f"| {cv * 1e6 / B:.1f} | {r['converged']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads and cv2.setNumThreads")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per cell (a third of it for B >= 1024)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 1024])
    parser.add_argument("--points", type=int, nargs="+", default=[9, 32])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    print(f"torch {torch.__version__}, OpenCV {cv2.__version__}, numpy {np.__version__}")
    print(
        f"threads: torch {torch.get_num_threads()}, OpenCV {cv2.getNumThreads()}; CPUs: {os.cpu_count()}; "
        f"CUDA: {torch.cuda.is_available()}"
    )
    before = os.getloadavg()[0]
    rows = run(args.batches, args.points, args.repeats, args.methods)
    print(f"load average (1 min) before / after: {before:.2f} / {os.getloadavg()[0]:.2f}")
    print(markdown(rows))


if __name__ == "__main__":
    main()
