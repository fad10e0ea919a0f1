"""Paper `pose` (seed 000): "[Re] On end-to-end 6DoF object pose estimation and robustness to object scale".

Keypoint heatmaps (HRNet, HigherHRNet or Stacked Hourglass) → centre of mass → PnP → 6-DoF pose of a drone, on UAVA
or its synthetic stand-in ToyDrone. Read in this order: uava.py (on-disk format), toydrone.py (generator),
manifest.py (preprocess and its validation suite), datamodule.py, heatmaps.py + hrnet.py / higherhrnet.py /
hourglass.py (models), module.py (training), evaluate.py + scale.py (metrics, overall and by object size).
"""

from __future__ import annotations

from pathlib import Path

from reprozoo.papers.base import Evaluation, Paper, Preprocessed


class PosePaper(Paper):
    id = "pose"
    claims_file = Path(__file__).with_name("claims.yaml")

    def generate(self, dataset_cfg, raw_dir: Path, *, progress: bool) -> int:
        from reprozoo.papers.pose.data.toydrone import generate

        return generate(
            raw_dir,
            drone=dataset_cfg.drone,
            model_kind=dataset_cfg.model,
            width=dataset_cfg.image.width,
            height=dataset_cfg.image.height,
            hfov_deg=dataset_cfg.hfov_deg,
            splits=dict(dataset_cfg.splits),
            seed=dataset_cfg.seed,
            diameter=dataset_cfg.get("diameter"),
            progress=progress,
        )

    def preprocess(self, raw_dir: Path, dataset_cfg) -> Preprocessed:
        from reprozoo.papers.pose.data.manifest import build_manifest, expectations

        manifest, info, surface = build_manifest(raw_dir, dataset_cfg)
        return Preprocessed(manifest, info, expectations(info), {"surface_points": surface})

    def build_datamodule(self, cfg, processed_dir: Path, raw_dir: Path):
        from reprozoo.papers.pose.datamodule import PoseDataModule

        return PoseDataModule(processed_dir, raw_dir, cfg.data.batch_size, cfg.data.num_workers)

    def build_module(self, cfg, processed_dir: Path):
        from reprozoo.papers.pose.datamodule import Geometry
        from reprozoo.papers.pose.module import PoseModule

        return PoseModule(cfg, Geometry.load(processed_dir))

    def evaluate(self, cfg, module, datamodule) -> Evaluation:
        from reprozoo.papers.pose.evaluate import evaluate

        return evaluate(cfg, module, datamodule)

    def export(self, module, datamodule):
        from reprozoo.papers.pose.export import KeypointPredictor

        example = datamodule.split("test").images[:2].float().numpy() / 255.0  # batch 2: keeps the batch dimension dynamic in torch.export
        return KeypointPredictor(module.net, module.strides, module.aggregation, module.temperature).eval(), example


PAPER = PosePaper()
