"""Data for TopoGAN: the processed mask patches (`masks.npy`) and their precomputed diagrams (`diagrams.npy`).

A batch is a dict: `mask` float [B, 1, S, S] in {−1, +1} (structure −1, the generator's tanh range, spec §2) and
`index` [B] (row in the split's table). Training batches have a fixed size (drop_last: the gradient penalty and the
topological loss see full batches).
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from reprozoo.papers.topogan.data import diagrams as packed_diagrams
from reprozoo.topology import Diagram


def to_tanh_range(grey: torch.Tensor) -> torch.Tensor:
    """uint8 grey [...] (structure 0, background 255) → float [...] in [−1, 1]: (x − 127.5) / 127.5."""
    return grey.float() / 127.5 - 1.0


class MaskSplit(Dataset):
    """One split held in memory: uint8 masks [N, 1, S, S] and their manifest rows."""

    def __init__(self, table: pd.DataFrame, masks: np.ndarray) -> None:
        self.table = table.reset_index(drop=True)
        self.masks = torch.from_numpy(masks[self.table["index"].to_numpy()]).unsqueeze(1)

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"mask": to_tanh_range(self.masks[i]), "index": torch.tensor(i)}


class TopoGANDataModule(pl.LightningDataModule):
    """Train/val/test splits of a processed TopoGAN dataset, with the real diagrams of each split."""

    def __init__(self, processed_dir: Path, batch_size: int, num_workers: int = 0) -> None:
        super().__init__()
        self.processed_dir = processed_dir
        self.batch_size, self.num_workers = batch_size, num_workers
        self.info = json.loads((processed_dir / "dataset.json").read_text())
        self.manifest = pd.read_parquet(processed_dir / "manifest.parquet")
        self._masks = np.load(processed_dir / "masks.npy", mmap_mode="r")
        self._splits: dict[str, MaskSplit] = {}

    def split(self, name: str) -> MaskSplit:
        if name not in self._splits:
            self._splits[name] = MaskSplit(self.manifest[self.manifest["split"] == name], self._masks)
        return self._splits[name]

    def diagrams(self, name: str) -> list[Diagram]:
        """The precomputed real diagrams of split `name`, in the split's row order."""
        return load_diagrams(self.processed_dir, self.split(name).table["index"].to_numpy(), int(self.info["dim"]))

    def _loader(self, name: str, train: bool) -> DataLoader:
        return DataLoader(self.split(name), batch_size=self.batch_size, shuffle=train, drop_last=train, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)


def load_diagrams(processed_dir: Path, indices: np.ndarray, dim: int) -> list[Diagram]:
    """Diagrams of the processed masks `indices` from `diagrams.npy`."""
    return packed_diagrams.unpack(np.load(processed_dir / "diagrams.npy"), indices, dim)
