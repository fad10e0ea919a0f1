"""Paper `topogan` (seed 003, ECCV 2020): "TopoGAN: A Topology-Aware Generative Adversarial Network".

WGAN-GP with DCGAN backbones generating binary structure masks, plus λ · a persistent-homology loss that closes
almost-holes the real masks do not have (dim 1) or joins surplus fragments to their neighbours (dim 0, vessels);
evaluated with the Betti score, the unbiased MMD of persistence diagrams and a proxy FID. Read in this order:
data/patches.py (from real masks to patches), data/isbi.py and the other readers (on-disk formats),
data/synthmembranes.py (generator, ISBI layout), data/manifest.py (preprocess, diagrams, validation suite),
datamodule.py, networks.py, module.py (training), metrics.py + evaluate.py, export.py.
The maths of persistence and of the loss live in `reprozoo.topology`.
"""

from __future__ import annotations

from pathlib import Path

from reprozoo.papers.base import Evaluation, Paper, Preprocessed


class TopoGANPaper(Paper):
    id = "topogan"
    claims_file = Path(__file__).with_name("claims.yaml")

    def generate(self, dataset_cfg, raw_dir: Path, *, progress: bool) -> int:
        from omegaconf import OmegaConf

        from reprozoo.papers.topogan.data.synthmembranes import FAMILIES, generate

        spec = OmegaConf.to_container(dataset_cfg.generator, resolve=True)
        return generate(
            raw_dir,
            size=int(dataset_cfg.image.size),
            count=int(sum(dataset_cfg.splits.values())),
            families=spec["families"],
            params={name: spec[name] for name in FAMILIES if name in spec},
            seed=int(dataset_cfg.seed),
            progress=progress,
        )

    def preprocess(self, raw_dir: Path, dataset_cfg) -> Preprocessed:
        from reprozoo.papers.topogan.data.manifest import build_manifest, expectations

        manifest, info, arrays = build_manifest(raw_dir, dataset_cfg)
        return Preprocessed(manifest, info, expectations(info), arrays)

    def build_datamodule(self, cfg, processed_dir: Path, raw_dir: Path):
        from reprozoo.papers.topogan.datamodule import TopoGANDataModule

        return TopoGANDataModule(processed_dir, int(cfg.data.batch_size), int(cfg.data.num_workers))

    def build_module(self, cfg, processed_dir: Path):
        import json

        import pandas as pd

        from reprozoo.papers.topogan.datamodule import load_diagrams
        from reprozoo.papers.topogan.module import TopoGANModule

        info = json.loads((processed_dir / "dataset.json").read_text())
        manifest = pd.read_parquet(processed_dir / "manifest.parquet", columns=["split", "index"])
        train = manifest.loc[manifest["split"] == "train", "index"].to_numpy()
        real = load_diagrams(processed_dir, train, int(info["dim"])) if float(cfg.loss.topo_weight) > 0 else []
        return TopoGANModule(cfg, int(info["size"]), int(info["dim"]), real)

    def evaluate(self, cfg, module, datamodule) -> Evaluation:
        from reprozoo.papers.topogan.evaluate import evaluate

        return evaluate(cfg, module, datamodule)

    def export(self, module, datamodule):
        import numpy as np

        from reprozoo.papers.topogan.export import MaskSampler

        # batch 2: keeps the batch dimension dynamic in torch.export
        example = np.random.default_rng(0).standard_normal((2, module.generator.z_dim)).astype(np.float32)
        return MaskSampler(module.generator, module.threshold).eval(), example


PAPER = TopoGANPaper()
