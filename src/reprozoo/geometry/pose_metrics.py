"""6-DoF pose error metrics, as the pose paper's report defines them (spec §7), per sample and aggregated.

Per-sample functions take batched rotations R [B, 3, 3] and translations t [B, 3] (object→camera, metres) and
return [B] tensors; `summarize` turns them into the report's columns:

    NPE    mean ‖t_gt − t̂‖ / (‖t_gt‖ + 1e-7)                                   (↓)
    AD     mean geodesic rotation error, radians                                (↓)
    ACCk   % of samples with rotation error < k° and translation error < k cm  (↑)
    ADDk   % with mean_v ‖(R̂v + t̂) − (R v + t)‖ < k % of the object's diameter  (↑)
    Projk  % with mean_v ‖π(v; R̂, t̂) − π(v; R, t)‖ < k px                       (↑)

Means are taken once over samples (the report's test batch was 1). Medians are added because a few catastrophic PnP
solutions dominate the mean NPE.
"""

from __future__ import annotations

import math

import torch

from reprozoo.geometry.camera import project_points


def translation_error(t_gt: torch.Tensor, t_pred: torch.Tensor) -> torch.Tensor:
    """Euclidean translation error [B] (metres) between [B, 3] translations."""
    return torch.linalg.vector_norm(t_gt - t_pred, dim=-1)


def normalized_position_error(t_gt: torch.Tensor, t_pred: torch.Tensor) -> torch.Tensor:
    """NPE [B]: translation error divided by the ground-truth distance."""
    return translation_error(t_gt, t_pred) / (torch.linalg.vector_norm(t_gt, dim=-1) + 1e-7)


def rotation_error(R_gt: torch.Tensor, R_pred: torch.Tensor) -> torch.Tensor:
    """Geodesic angle [B] (radians) between [B, 3, 3] rotations: arccos((tr(R_gt R̂ᵀ) − 1) / 2), clamped."""
    trace = torch.einsum("bij,bij->b", R_gt, R_pred)  # tr(R_gt R̂ᵀ)
    return torch.arccos(((trace - 1.0) / 2.0).clamp(-1.0, 1.0))


def add_error(R_gt: torch.Tensor, t_gt: torch.Tensor, R_pred: torch.Tensor, t_pred: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """ADD distance [B] (metres): mean over model points [n, 3] of the 3D distance between the two placements."""
    diff = points @ (R_gt - R_pred).transpose(-1, -2) + (t_gt - t_pred).unsqueeze(-2)
    return torch.linalg.vector_norm(diff, dim=-1).mean(-1)


def projection_error(
    R_gt: torch.Tensor, t_gt: torch.Tensor, R_pred: torch.Tensor, t_pred: torch.Tensor, points: torch.Tensor, K: torch.Tensor
) -> torch.Tensor:
    """2D projection distance [B] (pixels): mean over model points [n, 3] of ‖π(v; R̂, t̂) − π(v; R, t)‖."""
    diff = project_points(points, R_gt, t_gt, K) - project_points(points, R_pred, t_pred, K)
    return torch.linalg.vector_norm(diff, dim=-1).mean(-1)


def per_sample_errors(
    R_gt: torch.Tensor,
    t_gt: torch.Tensor,
    R_pred: torch.Tensor,
    t_pred: torch.Tensor,
    points: torch.Tensor,
    K: torch.Tensor,
    *,
    proj_scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """All per-sample errors [B]: npe, rot_rad, trans_m, add_m, proj_px (× `proj_scale`, e.g. to UAVA's 320-px width)."""
    return {
        "npe": normalized_position_error(t_gt, t_pred),
        "rot_rad": rotation_error(R_gt, R_pred),
        "trans_m": translation_error(t_gt, t_pred),
        "add_m": add_error(R_gt, t_gt, R_pred, t_pred, points),
        "proj_px": projection_error(R_gt, t_gt, R_pred, t_pred, points, K) * proj_scale,
    }


def summarize(errors: dict[str, torch.Tensor], diameter: float, thresholds: tuple[int, ...] = (2, 5, 10)) -> dict[str, float]:
    """The report's aggregate columns (percentages for ACC/ADD/Proj) from `per_sample_errors` output.

    Every sample counts: the caller gives a failed PnP a fallback pose and reports the failure rate separately.
    """
    rot_deg = errors["rot_rad"] * (180.0 / math.pi)
    trans_cm = errors["trans_m"] * 100.0
    out = {
        "npe": errors["npe"].mean().item(),
        "npe_median": errors["npe"].median().item(),
        "ad": errors["rot_rad"].mean().item(),
        "ad_median": errors["rot_rad"].median().item(),
    }
    for k in thresholds:
        out[f"acc{k}"] = 100.0 * ((rot_deg < k) & (trans_cm < k)).double().mean().item()
        out[f"add{k}"] = 100.0 * (errors["add_m"] < (k / 100.0) * diameter).double().mean().item()
        out[f"proj{k}"] = 100.0 * (errors["proj_px"] < k).double().mean().item()
    return out
