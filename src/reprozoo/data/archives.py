"""Safe, all-or-nothing extraction of .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz and .zip archives.

Every member is checked before anything is written: absolute names, ``..`` components,
symbolic or hard links that resolve outside the target (following the archive's own
symlinks, so chains such as ``a -> .`` plus ``b -> a/..`` are caught), device files and
FIFOs are refused. Tar members are then extracted with :mod:`tarfile`'s ``"data"`` filter
as a second layer. Extraction happens in a hidden sibling of the target that is renamed
into place only when every member has been written, so a rejected or failing archive
leaves the target as it was (absent, or with its previous contents).
"""

from __future__ import annotations

import lzma
import re
import secrets
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from reprozoo.errors import DownloadError

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
_ZIP_SUFFIXES = (".zip",)
# Most symlink expansions allowed while resolving one path (the kernel's limit is 40 too).
_MAX_LINK_EXPANSIONS = 40
_ZIP_SEPARATORS = re.compile(r"[/\\]")
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")
# Errors the decompressors and archive readers raise on corrupt or truncated input.
_CORRUPT_ARCHIVE_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
)

_LinkMap = dict[tuple[str, ...], str]


class _LinkLoop(Exception):
    """Resolving a path expanded more symlinks than :data:`_MAX_LINK_EXPANSIONS`."""


def extract(archive: Path | str, target: Path | str) -> list[Path]:
    """Extract ``archive`` into the directory ``target`` and return the paths written.

    The archive type comes from the file name (.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz, .zip).
    If ``target`` already exists it is replaced as a whole once extraction has succeeded;
    if it is a symlink, the directory it points to is replaced and the link kept.
    Returns the regular files and links extracted (not directories), in archive order.

    Raises:
        DownloadError: ``"<archive>: unsafe member '<name>': <reason>"`` for a member that
            could write outside ``target`` (or is a device/FIFO), or a one-line message for
            an unsupported, missing or corrupt archive. ``target`` is then left untouched.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise DownloadError(f"{archive}: archive not found")
    if target.exists() and not target.is_dir():
        raise DownloadError(f"{target}: extraction target exists and is not a directory")
    # Stage next to the real directory, so that the final rename stays on its file system.
    place = target.resolve() if target.is_symlink() else target
    name = archive.name.lower()
    try:
        if name.endswith(_ZIP_SUFFIXES):
            with zipfile.ZipFile(archive) as zf:
                zip_members = _check_zip(archive, zf)
                written = _into_place(place, lambda staging: _extract_zip(zf, zip_members, staging))
        elif name.endswith(_TAR_SUFFIXES):
            with tarfile.open(archive, "r:*") as tf:
                tar_members = _check_tar(archive, tf)
                written = _into_place(
                    place, lambda staging: _extract_tar(archive, tf, tar_members, staging)
                )
        else:
            raise DownloadError(
                f"{archive}: unsupported archive type "
                f"(expected one of {', '.join(_TAR_SUFFIXES + _ZIP_SUFFIXES)})"
            )
    except _CORRUPT_ARCHIVE_ERRORS as exc:
        raise DownloadError(f"{archive}: corrupt or unreadable archive: {_one_line(exc)}") from exc
    except OSError as exc:
        raise DownloadError(f"{archive}: extraction failed: {_one_line(exc)}") from exc
    return [target / rel for rel in written]


def _into_place(target: Path, fill: Callable[[Path], list[Path]]) -> list[Path]:
    """Run ``fill`` on a fresh hidden sibling of ``target``, then swap it in as ``target``.

    On any failure the sibling is removed and ``target`` is not touched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{secrets.token_hex(4)}.extracting")
    staging.mkdir()
    try:
        written = fill(staging)
        _replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return written


def _replace_dir(new: Path, target: Path) -> None:
    """Rename the directory ``new`` to ``target``, then delete the previous ``target``, if any."""
    if not target.exists():
        new.rename(target)
        return
    old = target.with_name(f".{target.name}.{secrets.token_hex(4)}.old")
    target.rename(old)
    try:
        new.rename(target)
    except BaseException:
        old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _unsafe(archive: Path, member: str, reason: str) -> DownloadError:
    """Build the error for a refused archive member."""
    return DownloadError(f"{archive}: unsafe member {member!r}: {reason}")


def _one_line(exc: BaseException) -> str:
    """``str(exc)`` with newlines folded, so it fits a one-line error message."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _tar_parts(archive: Path, member: str, name: str) -> tuple[str, ...]:
    """Split a tar member or hard-link name into components, refusing absolute and ``..`` names."""
    if name.startswith("/"):
        raise _unsafe(archive, member, "absolute path")
    parts = name.split("/")
    if ".." in parts:
        raise _unsafe(archive, member, "'..' path component")
    return tuple(p for p in parts if p not in ("", "."))


def _resolve(parts: tuple[str, ...], links: _LinkMap) -> tuple[str, ...] | None:
    """Resolve ``parts`` (relative to the target) through the archive's own symlinks.

    Returns the resolved components, or None when the path leaves the target. Raises
    :class:`_LinkLoop` when symlinks expand too many times.
    """
    resolved: list[str] = []
    pending = list(reversed(parts))
    expansions = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return None
            resolved.pop()
            continue
        resolved.append(part)
        link = links.get(tuple(resolved))
        if link is None:
            continue
        expansions += 1
        if expansions > _MAX_LINK_EXPANSIONS:
            raise _LinkLoop
        if link.startswith("/"):
            return None
        resolved.pop()
        pending.extend(reversed(link.split("/")))
    return tuple(resolved)


def _check_tar(archive: Path, tf: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Validate every tar member (see the module docstring); return the members to extract."""
    members = tf.getmembers()
    parts_of: list[tuple[str, ...]] = []
    links: _LinkMap = {}
    for m in members:
        parts = _tar_parts(archive, m.name, m.name)
        if m.ischr() or m.isblk() or m.isfifo():
            raise _unsafe(archive, m.name, "device file or FIFO")
        if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
            raise _unsafe(archive, m.name, f"unsupported member type {m.type!r}")
        if not parts and not m.isdir():
            raise _unsafe(archive, m.name, "empty name")
        if m.issym():
            links[parts] = m.linkname
        parts_of.append(parts)

    # tarfile can only hard-link to a file it has already extracted.
    earlier_files: set[tuple[str, ...]] = set()
    for m, parts in zip(members, parts_of, strict=True):
        try:
            # Following the member's own name too: a symlink is checked by where it
            # points, and a file is checked by where writing it through links would land.
            inside = _resolve(parts, links) is not None
            if m.islnk():
                link_parts = _tar_parts(archive, m.name, m.linkname)
                resolved = _resolve(link_parts, links)
                if resolved is None:
                    raise _unsafe(
                        archive, m.name, f"hard link to {m.linkname!r} outside the target"
                    )
                if link_parts not in earlier_files and resolved not in earlier_files:
                    raise _unsafe(
                        archive,
                        m.name,
                        f"hard link to {m.linkname!r}, not an earlier file in the archive",
                    )
        except _LinkLoop:
            raise _unsafe(archive, m.name, "symlink loop") from None
        if not inside:
            reason = (
                f"symlink to {m.linkname!r} outside the target"
                if m.issym()
                else "path through a symlink outside the target"
            )
            raise _unsafe(archive, m.name, reason)
        if m.isreg():
            earlier_files.add(parts)
    return members


def _extract_tar(
    archive: Path, tf: tarfile.TarFile, members: list[tarfile.TarInfo], staging: Path
) -> list[Path]:
    """Extract validated ``members`` into ``staging`` with the ``"data"`` filter."""
    try:
        tf.extractall(staging, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise _unsafe(archive, exc.tarinfo.name, _one_line(exc)) from exc
    written: dict[Path, None] = {}
    for m in members:
        if not m.isdir():
            written[Path(*_tar_parts(archive, m.name, m.name))] = None
    return list(written)


def _check_zip(archive: Path, zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Validate every zip entry's name and type; return the entries to extract."""
    infos = zf.infolist()
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(name):
            raise _unsafe(archive, name, "absolute path")
        parts = _ZIP_SEPARATORS.split(name)
        if ".." in parts:
            raise _unsafe(archive, name, "'..' path component")
        if not any(p not in ("", ".") for p in parts) and not info.is_dir():
            raise _unsafe(archive, name, "empty name")
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise _unsafe(archive, name, "symbolic link (not supported in zip archives)")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _unsafe(archive, name, "device file, FIFO or socket")
    return infos


def _extract_zip(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], staging: Path) -> list[Path]:
    """Extract validated ``infos`` into ``staging``; :mod:`zipfile` sanitizes names once more."""
    written: dict[Path, None] = {}
    for info in infos:
        try:
            path = Path(zf.extract(info, staging))
        except (RuntimeError, NotImplementedError) as exc:  # encrypted / unknown compression
            raise DownloadError(
                f"{zf.filename}: cannot extract {info.filename!r}: {_one_line(exc)}"
            ) from exc
        if not info.is_dir():
            written[path.relative_to(staging)] = None
    return list(written)
