"""Reusable geometry: cameras, projections, rotations, differentiable PnP and pose metrics."""
