"""Data for the pose paper: the processed manifest + images, decoded once into memory.

A batch is a dict: `image` float [B, 3, H, W] in [0, 1], `keypoints` [B, 9, 2] pixels (u, v), `R` [B, 3, 3],
`t` [B, 3], `index` [B] (row in the split's table). The camera `K` [3, 3], the 3D keypoints [9, 3], the surface
points [P, 3] and the diameter are dataset constants on `datamodule.geometry`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from reprozoo.errors import DataValidationError


@dataclass(frozen=True)
class Geometry:
    """Dataset constants: intrinsics K [3, 3], 3D keypoints [9, 3], ADD/Proj points [P, 3], diameter (m), image size."""

    K: torch.Tensor
    keypoints3d: torch.Tensor
    surface_points: torch.Tensor
    diameter: float
    width: int
    height: int

    @classmethod
    def load(cls, processed_dir: Path) -> "Geometry":
        info = json.loads((processed_dir / "dataset.json").read_text())
        return cls(
            K=torch.tensor(info["K"], dtype=torch.float64),
            keypoints3d=torch.tensor(info["keypoints3d"], dtype=torch.float64),
            surface_points=torch.from_numpy(np.load(processed_dir / "surface_points.npy")),
            diameter=float(info["diameter"]),
            width=int(info["width"]),
            height=int(info["height"]),
        )


class PoseSplit(Dataset):
    """One split held in memory: uint8 images [N, 3, H, W] and float annotations."""

    def __init__(self, table: pd.DataFrame, raw_dir: Path) -> None:
        self.table = table.reset_index(drop=True)
        images = []
        for rel in self.table["path"]:
            image = cv2.imread(str(raw_dir / rel), cv2.IMREAD_COLOR)
            if image is None:
                raise DataValidationError(f"{raw_dir / rel}: cannot decode image (re-run preprocess)")
            images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB).transpose(2, 0, 1))
        self.images = torch.from_numpy(np.stack(images)) if images else torch.empty(0, 3, 1, 1, dtype=torch.uint8)
        self.keypoints = torch.tensor(np.stack([np.stack([u, v], -1) for u, v in zip(self.table["kpts_u"], self.table["kpts_v"])]), dtype=torch.float32)
        self.R = torch.tensor(np.stack(self.table["rotation"].map(np.asarray)), dtype=torch.float64).reshape(-1, 3, 3)
        self.t = torch.tensor(self.table[["t_x", "t_y", "t_z"]].to_numpy(), dtype=torch.float64)

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "image": self.images[i].float() / 255.0,
            "keypoints": self.keypoints[i],
            "R": self.R[i],
            "t": self.t[i],
            "index": torch.tensor(i),
        }


class PoseDataModule(pl.LightningDataModule):
    """Train/val/test splits of a processed pose dataset."""

    def __init__(self, processed_dir: Path, raw_dir: Path, batch_size: int, num_workers: int = 0) -> None:
        super().__init__()
        self.processed_dir, self.raw_dir = processed_dir, raw_dir
        self.batch_size, self.num_workers = batch_size, num_workers
        self.geometry = Geometry.load(processed_dir)
        self.splits: dict[str, PoseSplit] = {}

    def split(self, name: str) -> PoseSplit:
        if name not in self.splits:
            manifest = pd.read_parquet(self.processed_dir / "manifest.parquet")
            self.splits[name] = PoseSplit(manifest[manifest["split"] == name], self.raw_dir)
        return self.splits[name]

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return DataLoader(self.split(name), batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers, drop_last=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
