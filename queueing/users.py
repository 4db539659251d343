"""Users, passwords and API keys: who a request comes from, and what it may see.

The users file (JSON, `--auth FILE`) holds each account's role (user or admin), a
salted PBKDF2 hash of its password, and its API keys as SHA-256 hashes: a key is
shown once, when it is made. The studio re-reads the file when it changes, so a
revoked key stops working at once. Browsers log in with a password; scripts send
a key in the `X-API-Key` header (or `Authorization: Bearer KEY`).

    python -m queueing.users add NAME [--admin] --file users.json   (asks for the password)
    python -m queueing.users key NAME --file users.json              (prints a new API key)
    python -m queueing.users revoke KEY_ID --file users.json         (the id is the key's first part)
    python -m queueing.users list --file users.json
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
from pathlib import Path

ITERATIONS = 200_000
ROLES = ("user", "admin")


def hash_password(password: str, salt: str | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), iterations).hex()
    return f"pbkdf2_sha256${iterations}${salt}${digest}"


def password_matches(password: str, stored: str) -> bool:
    try:
        _, iterations, salt, _ = stored.split("$")
        return hmac.compare_digest(hash_password(password, salt, int(iterations)), stored)
    except (ValueError, TypeError):
        return False


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Users:
    """The accounts in one users file, re-read whenever the file changes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._accounts: dict = {}
        self._keys: dict[str, str] = {}  # key hash -> user
        if not self.path.is_file():
            raise ValueError(f"--auth: the users file {self.path.name!r} does not exist; make one with "
                             "'python -m queueing.users add NAME --admin --file FILE'.")
        self._accounts_now()

    def _accounts_now(self) -> dict:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                data = json.loads(self.path.read_text() or "{}")
                self._accounts = data.get("users", {})
                self._keys = {k["hash"]: name for name, account in self._accounts.items()
                              for k in account.get("keys", {}).values()}
                self._stamp = stamp
            return self._accounts

    def check_password(self, name: str, password: str) -> bool:
        account = self._accounts_now().get(name)
        return account is not None and password_matches(password, account.get("password", ""))

    def user_for_key(self, key: str) -> str | None:
        self._accounts_now()
        return self._keys.get(key_hash(key))

    def is_admin(self, name: str | None) -> bool:
        return name is not None and self._accounts_now().get(name, {}).get("role") == "admin"


# -- the command line ---------------------------------------------------------------------------------


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {"users": {}}


def _save(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m queueing.users", description="Manage the studio's users and API keys.")
    parser.add_argument("command", choices=("add", "key", "revoke", "list"))
    parser.add_argument("name", nargs="?", help="user name (add, key) or key id (revoke)")
    parser.add_argument("--file", required=True, type=Path, help="the users file given to --auth")
    parser.add_argument("--admin", action="store_true", help="add: the user sees every job")
    parser.add_argument("--password-stdin", action="store_true", help="add: read the password from standard input")
    args = parser.parse_args(argv)
    data = _load(args.file)
    users = data.setdefault("users", {})
    if args.command == "list":
        for name, account in sorted(users.items()):
            print(name, account.get("role", "user"), "keys:", " ".join(sorted(account.get("keys", {}))) or "-")
        return 0
    if not args.name:
        parser.error(f"{args.command} needs a name")
    if args.command == "add":
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(f"password for {args.name}: ")
        if len(password) < 8:
            parser.error("the password must have at least 8 characters")
        account = users.setdefault(args.name, {"keys": {}})
        account.update(password=hash_password(password), role="admin" if args.admin else "user")
        _save(args.file, data)
        print(f"{args.name} ({account['role']}) saved in {args.file}")
    elif args.command == "key":
        if args.name not in users:
            parser.error(f"no user {args.name!r}; add it first")
        key_id = secrets.token_hex(4)
        key = f"st_{key_id}_{secrets.token_urlsafe(24)}"
        users[args.name].setdefault("keys", {})[key_id] = {"hash": key_hash(key), "created": time.time()}
        _save(args.file, data)
        print(key)
    elif args.command == "revoke":
        owner = next((n for n, a in users.items() if args.name in a.get("keys", {})), None)
        if owner is None:
            parser.error(f"no key with id {args.name!r} (see 'list')")
        del users[owner]["keys"][args.name]
        _save(args.file, data)
        print(f"revoked key {args.name} of {owner}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
