"""Accounts: passwords for browsers, API keys for scripts, and each user seeing only their own jobs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from queueing.users import Users, hash_password, main as users_cli, password_matches

from .conftest import ROOT, launched

ASSETS = ROOT / "assets"


def cli(*argv: str, stdin: str | None = None, monkeypatch=None, capsys=None) -> str:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", __import__("io").StringIO(stdin + "\n"))
    assert users_cli(list(argv)) == 0
    return capsys.readouterr().out.strip()


def get(url: str, headers: dict | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_passwords_are_salted_hashes():
    stored = hash_password("correct horse")
    assert "correct horse" not in stored and stored != hash_password("correct horse")
    assert password_matches("correct horse", stored) and not password_matches("wrong horse", stored)
    assert not password_matches("anything", "not a hash")


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    """A studio with three accounts: alice and bob (users) and root (admin), each with an API key."""
    folder = tmp_path_factory.mktemp("accounts")
    users_file = folder / "users.json"
    keys = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, admin in (("alice", False), ("bob", False), ("root", True)):
            monkeypatch.setattr("sys.stdin", __import__("io").StringIO(f"{name}-password\n"))
            users_cli(["add", name, "--file", str(users_file), "--password-stdin", *(["--admin"] if admin else [])])
        for name in ("alice", "bob", "root"):
            import contextlib
            import io
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                users_cli(["key", name, "--file", str(users_file)])
            keys[name] = out.getvalue().strip()
    with launched(folder / "outputs", "--auth", str(users_file)) as server:
        clients = {name: Client(server["url"], verbose=False, headers={"X-API-Key": key}) for name, key in keys.items()}
        yield {**server, "keys": keys, "clients": clients, "users_file": users_file}


def convert(client: Client):
    return client.predict(handle_file(str(ASSETS / "capsule.glb")), "stl", None, False, api_name="/convert_mesh")


def test_nobody_gets_in_without_a_key_or_a_password(accounts):
    url = accounts["url"]
    assert get(f"{url}config") == 401 or get(f"{url}gradio_api/info") == 401
    with pytest.raises(Exception):
        Client(url, verbose=False, headers={"X-API-Key": "st_00000000_not-a-key"})
    assert get(f"{url}gradio_api/info", {"X-API-Key": accounts["keys"]["alice"]}) == 200
    # A browser (or a script) logs in with the password instead.
    _, _, meta = convert(Client(url, verbose=False, auth=("alice", "alice-password")))
    assert meta["status"] == "done"


def test_each_user_sees_only_their_own_jobs_and_an_admin_sees_all(accounts):
    alice, bob, root = (accounts["clients"][n] for n in ("alice", "bob", "root"))
    studio, url = accounts["studio"], accounts["url"]
    _, _, meta = convert(alice)
    job_id = meta["job_id"]
    assert studio.jobs.get(job_id)["owner"] == "alice"
    assert job_id in [j["id"] for j in alice.predict(100, "", api_name="/list_jobs")]
    assert job_id not in [j["id"] for j in bob.predict(100, "", api_name="/list_jobs")]
    assert job_id in [j["id"] for j in root.predict(100, "", api_name="/list_jobs")]
    for endpoint in ("/job_status", "/job_result", "/rerun_job", "/delete_job", "/cancel_job"):
        with pytest.raises(AppError, match="no job"):
            bob.predict(job_id, api_name=endpoint)
    assert job_id not in json.dumps(bob.predict(api_name="/system_status")["recent_jobs"])
    assert job_id in json.dumps(alice.predict(api_name="/system_status")["recent_jobs"])
    assert root.predict(job_id, api_name="/job_status")["status"] == "done"
    # Downloads by path: the owner and admins only; the job store never.
    output = studio.outputs / meta["folder"] / "model.stl"
    file_url = f"{url}gradio_api/file={output}"
    codes = {name: get(file_url, {"X-API-Key": key}) for name, key in accounts["keys"].items()}
    assert codes == {"alice": 200, "bob": 404, "root": 200}
    assert get(file_url) == 401
    assert get(f"{url}gradio_api/file={studio.outputs / 'jobs.sqlite'}", {"X-API-Key": accounts["keys"]["root"]}) == 404


def test_a_revoked_key_stops_working_at_once(accounts, capsys):
    users_file, key = accounts["users_file"], accounts["keys"]["bob"]
    key_id = key.split("_")[1]
    assert get(f"{accounts['url']}gradio_api/info", {"X-API-Key": key}) == 200
    assert users_cli(["revoke", key_id, "--file", str(users_file)]) == 0
    assert get(f"{accounts['url']}gradio_api/info", {"X-API-Key": key}) == 401
    assert Users(users_file).user_for_key(key) is None


def test_serving_the_network_without_accounts_warns(tmp_path):
    import app

    studio = app.studio_from_args(app.parse_args(["--outputs", str(tmp_path)]))
    assert app.exposure_warning(app.parse_args(["--host", "127.0.0.1"]), studio) is None
    warning = app.exposure_warning(app.parse_args(["--host", "0.0.0.0"]), studio)
    assert "0.0.0.0 with no accounts" in warning and "--auth" in warning
    assert "public share link" in app.exposure_warning(app.parse_args(["--share"]), studio)
    with pytest.raises(SystemExit, match="users file"):
        app.studio_from_args(app.parse_args(["--outputs", str(tmp_path), "--auth", str(tmp_path / "missing.json")]))
