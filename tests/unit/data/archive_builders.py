"""Build tar and zip archives (benign and malicious) for extraction tests."""

from __future__ import annotations

import io
import random
import tarfile
import zipfile
from pathlib import Path

Member = tuple[tarfile.TarInfo, bytes | None]


def sample_files() -> dict[str, bytes]:
    """A small dataset: two incompressible blobs (so archives stay large) and a CSV."""
    rng = random.Random(1234)
    return {
        "dataset/images/0001.bin": rng.randbytes(150_000),
        "dataset/images/0002.bin": rng.randbytes(120_000),
        "dataset/labels.csv": b"image,label\n0001,cat\n0002,dog\n",
    }


def file_member(name: str, data: bytes, mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def dir_member(name: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def symlink_member(name: str, target: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info, None


def hardlink_member(name: str, target: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE
    info.linkname = target
    return info, None


def special_member(name: str, kind: bytes) -> Member:
    """A device or FIFO member; ``kind`` is tarfile.CHRTYPE, BLKTYPE or FIFOTYPE."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return info, None


_TAR_MODES = {
    ".tar": "w",
    ".tar.gz": "w:gz",
    ".tgz": "w:gz",
    ".tar.bz2": "w:bz2",
    ".tar.xz": "w:xz",
}


def write_tar(path: Path, members: list[Member]) -> Path:
    """Write ``members`` to ``path``, compressed according to its suffix."""
    mode = next(m for suffix, m in _TAR_MODES.items() if path.name.endswith(suffix))
    with tarfile.open(path, mode) as tf:  # type: ignore[call-overload]
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def write_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    """Write ``entries`` (name or ZipInfo, data) to a zip at ``path``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def sample_tar_gz(path: Path) -> Path:
    """:func:`sample_files` as a .tar.gz at ``path``."""
    return write_tar(path, [file_member(n, d) for n, d in sample_files().items()])


def sample_zip(path: Path) -> Path:
    """:func:`sample_files` as a .zip at ``path``."""
    return write_zip(path, list(sample_files().items()))
