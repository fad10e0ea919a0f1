"""reprozoo.data.archives.extract: formats, all-or-nothing behaviour and unsafe members."""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from reprozoo.data.archives import extract
from reprozoo.errors import DownloadError

from .archive_builders import (
    Member,
    dir_member,
    file_member,
    hardlink_member,
    sample_files,
    special_member,
    symlink_member,
    write_tar,
    write_zip,
)


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: file contents, ``'dir'`` or ``'-> <link>'``."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = path.read_bytes()
    return out


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """``tmp_path/work`` holds archive and target; ``tmp_path/outside.txt`` is a bystander."""
    (tmp_path / "outside.txt").write_bytes(b"precious")
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.fixture
def no_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if extraction starts: unsafe members must be refused up front."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("extraction started before all members were validated")

    monkeypatch.setattr(tarfile.TarFile, "extractall", refuse)
    monkeypatch.setattr(tarfile.TarFile, "extract", refuse)
    monkeypatch.setattr(zipfile.ZipFile, "extract", refuse)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", refuse)


def _assert_nothing_written(tmp_path: Path, archive: Path) -> None:
    """Only the archive is in ``work`` (no target, no staging dir) and the bystander is intact."""
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == [archive.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside.txt", "work"]
    assert (tmp_path / "outside.txt").read_bytes() == b"precious"


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip"])
def test_extracts_every_supported_format(workdir: Path, suffix: str) -> None:
    files = sample_files()
    archive = workdir / f"sample{suffix}"
    if suffix == ".zip":
        write_zip(archive, list(files.items()))
    else:
        write_tar(archive, [file_member(n, d) for n, d in files.items()])
    target = workdir / "out"
    written = extract(archive, target)
    assert written == [target / n for n in files]
    for name, data in files.items():
        assert (target / name).read_bytes() == data
    assert sorted(p.name for p in workdir.iterdir()) == sorted([archive.name, "out"])


def test_links_that_stay_inside_are_extracted(workdir: Path) -> None:
    archive = write_tar(
        workdir / "links.tar",
        [
            dir_member("./"),
            file_member("data/a.txt", b"A"),
            symlink_member("data/latest", "a.txt"),
            symlink_member("data/sub/up", "../a.txt"),
            symlink_member("alias", "data"),
            hardlink_member("data/b.txt", "data/a.txt"),
        ],
    )
    target = workdir / "out"
    written = extract(archive, target)
    assert [p.relative_to(target).as_posix() for p in written] == [
        "data/a.txt",
        "data/latest",
        "data/sub/up",
        "alias",
        "data/b.txt",
    ]
    assert (target / "data/latest").is_symlink()
    assert (target / "data/sub/up").read_bytes() == b"A"
    assert (target / "alias/a.txt").read_bytes() == b"A"
    assert (target / "data/b.txt").read_bytes() == b"A"
    assert not (target / "data/b.txt").is_symlink()


def test_data_filter_strips_setuid_bits(workdir: Path) -> None:
    archive = write_tar(workdir / "suid.tar", [file_member("tool", b"#!/bin/sh\n", mode=0o4755)])
    target = workdir / "out"
    extract(archive, target)
    mode = (target / "tool").stat().st_mode
    assert not mode & stat.S_ISUID
    assert mode & stat.S_IXUSR


def _unsafe_tar_cases(tmp_path: Path) -> dict[str, tuple[list[Member], str, str]]:
    """name -> (members after a benign file, offending member name, expected reason)."""
    outside = str(tmp_path / "outside.txt")
    return {
        "dotdot": ([file_member("../evil.txt", b"x")], "../evil.txt", "'..' path component"),
        "dotdot-nested": ([file_member("ok/../../evil.txt", b"x")], "ok/../../evil.txt", "'..'"),
        "absolute": (
            [file_member(str(tmp_path / "abs.txt"), b"x")],
            str(tmp_path / "abs.txt"),
            "absolute path",
        ),
        "symlink-dotdot": (
            [symlink_member("link", "../.."), file_member("link/evil.txt", b"x")],
            "link",
            "symlink to '../..' outside the target",
        ),
        "symlink-absolute": ([symlink_member("link", outside)], "link", "outside the target"),
        "symlink-chain": (
            # Each link looks harmless on its own: 'dot' -> '.', then 'up' -> 'dot/..' is
            # lexically '.', but through the first link it is the target's parent.
            [
                symlink_member("dot", "."),
                symlink_member("up", "dot/.."),
                file_member("up/evil.txt", b"x"),
            ],
            "up",
            "outside the target",
        ),
        "write-through-symlink": (
            [symlink_member("d", "sub/../.."), file_member("d/evil.txt", b"x")],
            "d",
            "outside the target",
        ),
        "symlink-loop": ([symlink_member("a", "b"), symlink_member("b", "a")], "a", "symlink loop"),
        "hardlink-dotdot": ([hardlink_member("hl", "../outside.txt")], "hl", "'..' path component"),
        "hardlink-absolute": ([hardlink_member("hl", outside)], "hl", "absolute path"),
        "hardlink-not-in-archive": (
            [hardlink_member("hl", "missing.txt")],
            "hl",
            "not an earlier file in the archive",
        ),
        "hardlink-before-its-file": (
            [hardlink_member("hl", "later.txt"), file_member("later.txt", b"x")],
            "hl",
            "not an earlier file in the archive",
        ),
        "hardlink-through-symlink": (
            [symlink_member("up", ".."), hardlink_member("hl", "up/outside.txt")],
            "up",
            "outside the target",
        ),
        "char-device": ([special_member("null", tarfile.CHRTYPE)], "null", "device file or FIFO"),
        "block-device": ([special_member("sda", tarfile.BLKTYPE)], "sda", "device file or FIFO"),
        "fifo": ([special_member("pipe", tarfile.FIFOTYPE)], "pipe", "device file or FIFO"),
    }


@pytest.mark.parametrize("case", list(_unsafe_tar_cases(Path("/x"))))
@pytest.mark.usefixtures("no_extraction")
def test_unsafe_tar_member_is_rejected_before_writing(
    tmp_path: Path, workdir: Path, case: str
) -> None:
    members, offender, reason = _unsafe_tar_cases(tmp_path)[case]
    archive = write_tar(workdir / "evil.tar.gz", [file_member("benign.txt", b"ok"), *members])
    with pytest.raises(DownloadError) as info:
        extract(archive, workdir / "out")
    message = str(info.value)
    assert message.startswith(f"{archive}: unsafe member {offender!r}: ")
    assert reason in message
    assert "\n" not in message
    _assert_nothing_written(tmp_path, archive)
    assert not (tmp_path / "abs.txt").exists() and not (tmp_path / "evil.txt").exists()


def _zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (("../evil.txt", b"x"), "'..' path component"),
        (("ok/../../evil.txt", b"x"), "'..' path component"),
        (("..\\evil.txt", b"x"), "'..' path component"),
        (("/tmp/abs-evil.txt", b"x"), "absolute path"),
        (("C:/evil.txt", b"x"), "absolute path"),
        (_zip_symlink("link", "../../outside.txt"), "symbolic link"),
    ],
    ids=["dotdot", "dotdot-nested", "backslash-dotdot", "absolute", "drive-letter", "symlink"],
)
@pytest.mark.usefixtures("no_extraction")
def test_zip_slip_is_rejected_before_writing(
    tmp_path: Path, workdir: Path, entry: tuple[str | zipfile.ZipInfo, bytes], reason: str
) -> None:
    archive = write_zip(workdir / "evil.zip", [("benign.txt", b"ok"), entry])
    name = entry[0] if isinstance(entry[0], str) else entry[0].filename
    with pytest.raises(DownloadError) as info:
        extract(archive, workdir / "out")
    message = str(info.value)
    assert message.startswith(f"{archive}: unsafe member {name!r}: {reason}")
    _assert_nothing_written(tmp_path, archive)
    assert not Path("/tmp/abs-evil.txt").exists()


def test_rejected_archive_leaves_existing_target_untouched(workdir: Path) -> None:
    target = workdir / "out"
    target.mkdir()
    (target / "old.txt").write_bytes(b"old")
    archive = write_tar(
        workdir / "evil.tar", [file_member("new.txt", b"new"), file_member("../x", b"x")]
    )
    with pytest.raises(DownloadError, match="unsafe member"):
        extract(archive, target)
    assert _tree(target) == {"old.txt": b"old"}
    assert sorted(p.name for p in workdir.iterdir()) == ["evil.tar", "out"]


def test_successful_extract_replaces_existing_target(workdir: Path) -> None:
    target = workdir / "out"
    target.mkdir()
    (target / "old.txt").write_bytes(b"old")
    archive = write_tar(workdir / "new.tar", [file_member("new.txt", b"new")])
    assert extract(archive, target) == [target / "new.txt"]
    assert _tree(target) == {"new.txt": b"new"}
    assert sorted(p.name for p in workdir.iterdir()) == ["new.tar", "out"]


@pytest.mark.parametrize("suffix", [".tar.gz", ".zip"])
def test_truncated_archive_fails_cleanly(tmp_path: Path, workdir: Path, suffix: str) -> None:
    files = sample_files()
    good = workdir / f"good{suffix}"
    if suffix == ".zip":
        write_zip(good, list(files.items()))
    else:
        write_tar(good, [file_member(n, d) for n, d in files.items()])
    archive = workdir / f"bad{suffix}"
    archive.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    good.unlink()
    with pytest.raises(DownloadError, match=r"corrupt or unreadable archive") as info:
        extract(archive, workdir / "out")
    assert str(info.value).startswith(str(archive))
    _assert_nothing_written(tmp_path, archive)


def test_unsupported_archive_type(workdir: Path) -> None:
    archive = workdir / "data.rar"
    archive.write_bytes(b"Rar!")
    with pytest.raises(DownloadError, match="unsupported archive type"):
        extract(archive, workdir / "out")
    assert not (workdir / "out").exists()


def test_missing_archive(workdir: Path) -> None:
    with pytest.raises(DownloadError, match="archive not found"):
        extract(workdir / "absent.tar.gz", workdir / "out")


def test_symlinked_target_keeps_its_link(workdir: Path) -> None:
    real = workdir / "big-disk" / "raw"
    real.mkdir(parents=True)
    (real / "old.txt").write_bytes(b"old")
    target = workdir / "raw"
    target.symlink_to(real)
    archive = write_tar(workdir / "new.tar", [file_member("new.txt", b"new")])
    assert extract(archive, target) == [target / "new.txt"]
    assert target.is_symlink()
    assert _tree(real) == {"new.txt": b"new"}
    assert sorted(p.name for p in real.parent.iterdir()) == ["raw"]
