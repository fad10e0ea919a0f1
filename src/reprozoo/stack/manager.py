"""`reprozoo stack up | down | status | env`: bring the stack's services up in dependency order, stop exactly what was
started, report health, and point the project's DVC remote `stack` at the S3 server."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reprozoo.stack.layout import DVC_BUCKET, HOST, Ports, StackLayout
from reprozoo.stack.processes import StackError, is_running, load_state, save_state, stop
from reprozoo.stack.secrets import Credentials, client_environment, credentials_from, read_env_file, write_env_file
from reprozoo.stack.services import SERVICES, StackContext, service, url_of, wait_healthy

DVC_REMOTE = "stack"


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    pid: int | None
    running: bool
    healthy: bool


def layout_of(root: Path) -> StackLayout:
    return StackLayout(root / ".stack")


def context(root: Path, port_base: int | None = None) -> StackContext:
    """The stack of project `root`: its recorded ports and credentials (generated on first use)."""
    layout = layout_of(root)
    try:
        base = layout.read_port_base(port_base)
        ports = Ports.from_base(base)
        credentials = credentials_from(read_env_file(layout.env_file)) if layout.env_file.is_file() else Credentials.generate()
    except (ValueError, KeyError) as exc:
        raise StackError(str(exc)) from exc
    return StackContext(layout, ports, credentials)


def _with_needs(names: Sequence[str]) -> list[str]:
    """`names` plus the services they need, in start order."""
    wanted = set(names)
    for name in names:
        wanted.update(service(name).needs)
    return [name for name in SERVICES if name in wanted]


def _check_names(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        raise StackError(f"unknown service {', '.join(unknown)} (services: {', '.join(SERVICES)})")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
            return True
        except OSError:
            return False


def up(root: Path, names: Sequence[str] = SERVICES, *, port_base: int | None = None) -> list[ServiceStatus]:
    """Start `names` (and what they need) unless already running; wait for each to answer; configure the DVC remote."""
    _check_names(names)
    ctx = context(root, port_base)
    layout = ctx.layout
    state = load_state(layout.state_file)
    to_start = [n for n in _with_needs(names) if not (n in state and is_running(state[n]))]
    busy = [str(p) for n in to_start for p in ctx.ports.of(n) if not _port_free(p)]
    if busy:
        raise StackError(f"{HOST} port(s) {', '.join(busy)} already in use by another process: choose another --port-base")
    layout.write_port_base(ctx.ports.base)
    write_env_file(layout.env_file, client_environment(ctx.credentials, ctx.ports))
    for name in _with_needs(names):
        definition = service(name)
        if name in to_start:
            if definition.prepare:
                definition.prepare(ctx)
            record = definition.start(ctx)
            state[name] = record
            save_state(layout.state_file, state)
            wait_healthy(name, ctx, alive=lambda record=record: is_running(record))
        if definition.ready:
            definition.ready(ctx)
    configure_dvc_remote(root, ctx)
    return status(root)


def down(root: Path, names: Sequence[str] = SERVICES, *, purge: bool = False) -> list[str]:
    """Stop the recorded processes of `names` (reverse start order); `purge` also deletes the stack's data and
    credentials (only with every service stopped). Returns the names stopped."""
    _check_names(names)
    layout = layout_of(root)
    state = load_state(layout.state_file)
    stopped = []
    for name in reversed(SERVICES):
        if name in names and name in state:
            if is_running(state[name]):
                stop(state[name])
                stopped.append(name)
            del state[name]
            save_state(layout.state_file, state)
    if purge:
        if state:
            raise StackError(f"--purge: {', '.join(state)} still recorded as running; stop every service first")
        remove_dvc_remote(root)
        shutil.rmtree(layout.root, ignore_errors=True)
    return stopped


def status(root: Path) -> list[ServiceStatus]:
    """Each service: address, recorded pid, whether that process runs, and whether it answers its health check."""
    layout = layout_of(root)
    if not layout.settings_file.is_file():
        return [ServiceStatus(name, "-", None, False, False) for name in SERVICES]
    ctx = context(root)
    state = load_state(layout.state_file)
    rows = []
    for name in SERVICES:
        record = state.get(name)
        running = record is not None and is_running(record)
        rows.append(ServiceStatus(name, url_of(name, ctx.ports), record.pid if record else None, running, running and service(name).healthy(ctx)))
    return rows


def configure_dvc_remote(root: Path, ctx: StackContext) -> None:
    """Make remote `stack` (s3://reprozoo-dvc/cache on this S3, with its keys) the project's default DVC remote, in
    the git-ignored `.dvc/config.local` so that no address or key lands in the tracked `.dvc/config`."""
    if not (root / ".dvc").is_dir():
        return
    from dvc.config import Config

    with Config(str(root / ".dvc")).edit("local") as conf:
        conf["remote"][DVC_REMOTE] = {"url": f"s3://{DVC_BUCKET}/cache", "endpointurl": f"http://{HOST}:{ctx.ports.s3}",
                                      "access_key_id": ctx.credentials.s3_access_key, "secret_access_key": ctx.credentials.s3_secret_key}
        conf["core"]["remote"] = DVC_REMOTE


def remove_dvc_remote(root: Path) -> None:
    if not (root / ".dvc" / "config.local").is_file():
        return
    from dvc.config import Config

    with Config(str(root / ".dvc")).edit("local") as conf:
        conf["remote"].pop(DVC_REMOTE, None)
        if conf["core"].get("remote") == DVC_REMOTE:
            del conf["core"]["remote"]
