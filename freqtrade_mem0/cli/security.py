"""Security and durability commands: `keys`, `token`, `backup`, `restore`, `encryption`.

`keys` and `token` work on files and secrets on this machine (whoever may write the keys
file is an administrator by definition). `backup`, `restore` and `encryption` work on the
store `--store` names: on a memory service (`http://...`) they call its routes with
`MEM0_API_KEY` (an admin key), elsewhere they work on the store directly.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click

from freqtrade_mem0.cli.app import CliState, emit_json, emit_table
from freqtrade_mem0.errors import ConfigError

pass_state = click.make_pass_decorator(CliState)
ROLES = click.Choice(["reader", "writer", "admin"])
DURATION = re.compile(r"(\d{1,6})([smhdw])")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_TOKEN_SECONDS = 366 * 86400
KEYS_FILE = click.option(
    "--keys-file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="MEM0_KEYS_FILE",
    default="user_data/mem0-keys.json",
    show_default=True,
    help="The service's API keys file [env MEM0_KEYS_FILE].",
)
BACKUP_DIR = click.option(
    "--backup-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="MEM0_BACKUP_DIR",
    default="user_data/mem0-backups",
    show_default=True,
    help="Folder of backups (not used on a memory service: it has its own) [env MEM0_BACKUP_DIR].",
)


def parse_duration(value: str) -> int:
    """Seconds in `30d`, `12h`, `90m`, `2w`, `3600s`.

    Raises:
        ConfigError: not such a duration, or longer than a year.
    """
    match = DURATION.fullmatch(value.strip())
    if match is None:
        raise ConfigError(f"--expires {value!r}: use a duration such as 1h, 30d or 2w")
    seconds = int(match[1]) * SECONDS[match[2]]
    if not 0 < seconds <= MAX_TOKEN_SECONDS:
        raise ConfigError(f"--expires {value!r}: between 1 second and 366 days")
    return seconds


# -- keys ---------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """Create, list and revoke the service's API keys (only their hashes are stored)."""


@keys.command("create")
@click.option("--name", required=True, help="What the key is for: bot-1, grafana, n8n ...")
@click.option("--role", type=ROLES, required=True, help="reader, writer or admin.")
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    help="Limit the key to this strategy's memories (repeatable; default: all).",
)
@KEYS_FILE
@click.option("--json", "as_json", is_flag=True, help="Print the entry and the key as JSON.")
def keys_create(
    name: str, role: str, strategies: tuple[str, ...], keys_file: Path, as_json: bool
) -> None:
    """Make a key. It is printed once, here, and never stored: keep it now."""
    from freqtrade_mem0.security.keys import KeyFile

    entry, key = KeyFile(keys_file).create(name, role, list(strategies) or None)
    if as_json:
        emit_json({**entry.to_json(), "key": key})
        return
    scope = ", ".join(entry.strategies) if entry.strategies else "all strategies"
    click.echo(f"created key {entry.id} ({entry.name}): {entry.role.value}, {scope}", err=True)
    click.echo("the key (shown only now):", err=True)
    click.echo(key)


@keys.command("list")
@KEYS_FILE
@click.option("--json", "as_json", is_flag=True)
def keys_list(keys_file: Path, as_json: bool) -> None:
    """Every key's id, name, role, strategies and dates (never the key)."""
    from freqtrade_mem0.security.keys import KeyFile

    entries = KeyFile(keys_file).entries()
    if as_json:
        emit_json([{k: v for k, v in e.to_json().items() if k != "hash"} for e in entries])
        return
    rows = [
        [
            e.id,
            e.name,
            e.role.value,
            ",".join(e.strategies or ()) or "*",
            e.created,
            e.revoked or "",
        ]
        for e in entries
    ]
    emit_table(rows, ["id", "name", "role", "strategies", "created", "revoked"])


@keys.command("revoke")
@click.argument("key_id")
@KEYS_FILE
def keys_revoke(key_id: str, keys_file: Path) -> None:
    """Revoke a key by its id; a running service refuses it from its next request."""
    from freqtrade_mem0.security.keys import KeyFile

    entry = KeyFile(keys_file).revoke(key_id)
    click.echo(f"revoked key {entry.id} ({entry.name}) at {entry.revoked}")


# -- tokens -------------------------------------------------------------------------------------


@click.command()
@click.option("--role", type=ROLES, required=True, help="reader, writer or admin.")
@click.option("--strategy", "strategies", multiple=True, help="Limit to a strategy (repeatable).")
@click.option("--expires", default="30d", show_default=True, help="Lifetime: 1h, 30d, 2w ...")
@click.option("--subject", default="freqtrade-mem0", show_default=True, help="The `sub` claim.")
@click.option(
    "--algorithm",
    type=click.Choice(["HS256", "RS256"]),
    envvar="MEM0_JWT_ALGORITHM",
    default="HS256",
    show_default=True,
)
@click.option(
    "--secret-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="HS256: a file holding the secret [default: env MEM0_JWT_SECRET].",
)
@click.option(
    "--private-key-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="RS256: the private key (PEM) whose public key the service has.",
)
@click.option("--issuer", envvar="MEM0_JWT_ISSUER", help="The `iss` claim [env MEM0_JWT_ISSUER].")
@click.option("--audience", envvar="MEM0_JWT_AUDIENCE", default="freqtrade-mem0", show_default=True)
def token(
    role: str,
    strategies: tuple[str, ...],
    expires: str,
    subject: str,
    algorithm: str,
    secret_file: Path | None,
    private_key_file: Path | None,
    issuer: str | None,
    audience: str,
) -> None:
    """Issue a JWT for the service (send it as `Authorization: Bearer <token>`)."""
    from freqtrade_mem0.security.tokens import issue_token, read_key_file

    if algorithm == "RS256":
        if private_key_file is None:
            raise ConfigError("RS256 tokens need --private-key-file")
        key = read_key_file(private_key_file, "JWT private key")
    elif secret_file is not None:
        key = secret_file.read_text().strip()
    else:
        key = os.environ.get("MEM0_JWT_SECRET", "")
    click.echo(
        issue_token(
            key=key,
            algorithm="RS256" if algorithm == "RS256" else "HS256",
            role=role,
            subject=subject,
            expires_in_seconds=parse_duration(expires),
            strategies=list(strategies) or None,
            audience=audience,
            issuer=issuer,
        )
    )


# -- backups ------------------------------------------------------------------------------------


def _service(state: CliState) -> Any:
    """The memory service the store is, or None for a store this process opens itself."""
    from freqtrade_mem0.stores.http import HttpStore

    store = state.memory().store
    return store if isinstance(store, HttpStore) else None


@click.command()
@BACKUP_DIR
@click.option("--name", help="The backup's name [default mem0-<UTC time>].")
@click.option("--no-verify", is_flag=True, help="Skip restoring it into a scratch store.")
@click.option("--list", "list_", is_flag=True, help="List the backups instead.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def backup(
    state: CliState,
    backup_dir: Path,
    name: str | None,
    no_verify: bool,
    list_: bool,
    as_json: bool,
) -> None:
    """Back up every memory, then verify it by restoring it into a scratch store."""
    from freqtrade_mem0 import backup as backups
    from freqtrade_mem0.backup_check import verify_by_restore

    service = _service(state)
    if list_:
        found = (
            service.request("GET", "/backups")
            if service
            else [b.to_dict() for b in backups.list_backups(backup_dir)]
        )
        if as_json:
            emit_json(found)
        else:
            rows = [[b["name"], b["created_at"], b["count"], b["bytes"]] for b in found]
            emit_table(rows, ["name", "created", "memories", "bytes"])
        return
    if service is not None:
        if name:
            raise ConfigError("a memory service names its backups itself; leave out --name")
        made = service.request("POST", "/backup", timeout=None)
        if not no_verify:
            service.request("POST", f"/backups/{made['name']}/verify", timeout=None)
    else:
        memory = state.memory()
        info = backups.create_backup(memory, backup_dir, name=name)
        if not no_verify:
            verify_by_restore(info.path, backups.ring_of(memory))
        made = info.to_dict()
    made["verified"] = not no_verify
    if as_json:
        emit_json(made)
    else:
        checked = "verified by a restore" if made["verified"] else "not verified"
        click.echo(f"backup {made['name']}: {made['count']} memories, {checked}")


@click.command()
@click.argument("name")
@BACKUP_DIR
@click.option("--replace", is_flag=True, help="Remove every other memory first.")
@click.option("--yes", is_flag=True, help="Do not ask before --replace.")
@pass_state
def restore(state: CliState, name: str, backup_dir: Path, replace: bool, yes: bool) -> None:
    """Write a backup's memories back (verified first; an upsert by id)."""
    from freqtrade_mem0 import backup as backups

    if replace and not yes:
        click.confirm("--replace removes every memory not in the backup. Go on?", abort=True)
    service = _service(state)
    if service is not None:
        params = {"replace": "true" if replace else "false"}
        result = service.request("POST", f"/backups/{name}/restore", params=params, timeout=None)
        restored = int(result["restored"])
    else:
        path = backups.find_backup(backup_dir, name)
        restored = backups.restore_backup(state.memory(), path, replace=replace).restored
    click.echo(f"restored {restored} memories from {name}")


# -- encryption ---------------------------------------------------------------------------------


@click.group()
def encryption() -> None:
    """Keys that encrypt memories at rest, backups and exports."""


@encryption.command("new-key")
@click.option("--id", "key_id", default="k1", show_default=True, help="The key's name.")
def encryption_new_key(key_id: str) -> None:
    """Print a new random key as `<id>:<base64>`: put it first in encryption_keys (or the key
    file), keeping older keys after it until a rotation has re-encrypted everything."""
    from freqtrade_mem0.security.crypto import new_key_spec

    click.echo(new_key_spec(key_id))


def _encrypted_store(state: CliState) -> Any:
    from freqtrade_mem0.stores.encrypted import EncryptedStore

    store = state.memory().store
    if not isinstance(store, EncryptedStore):
        raise ConfigError(
            "encryption at rest is not enabled: set encryption_keys or encryption_key_file"
        )
    return store


@encryption.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def encryption_status(state: CliState, as_json: bool) -> None:
    """Key ids (never keys), the active one, and how many memories each encrypts."""
    service = _service(state)
    if service is not None:
        status = service.request("GET", "/encryption/status", params={"count": "true"})
    else:
        store = _encrypted_store(state)
        status = {
            "enabled": True,
            "active_key": store.ring.active.id,
            "keys": store.ring.ids,
            "usage": store.key_usage(),
        }
    if as_json:
        emit_json(status)
        return
    click.echo(f"active key: {status['active_key']}; keys: {', '.join(status['keys'])}")
    for key_id, count in (status.get("usage") or {}).items():
        click.echo(f"  {key_id}: {count} memories")


@encryption.command("rotate")
@pass_state
def encryption_rotate(state: CliState) -> None:
    """Re-encrypt every memory with the first key (a service does it in the background)."""
    service = _service(state)
    if service is not None:
        started = service.request("POST", "/encryption/rotate")
        click.echo(f"rotation to key {started['key_id']} started; see `encryption status`")
        return
    result = _encrypted_store(state).rotate()
    click.echo(f"re-encrypted {result.reencrypted} of {result.scanned} memories")


def register(group: click.Group) -> None:
    """Add this module's commands to the group."""
    for command in (keys, token, backup, restore, encryption):
        group.add_command(command)
