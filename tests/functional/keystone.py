"""A real Keystone for the tests (issue 14): Keystone from PyPI in ``.venv-keystone``
(``make test`` installs it, pins Keystone's own), on SQLite with fernet tokens in a
temporary directory, served by gunicorn on 127.0.0.1 on a free port, stopped by its pid.

``Keystone.start`` does what an operator's installation does: ``keystone-manage
db_sync``, ``fernet_setup``, ``credential_setup`` and ``bootstrap`` (the admin user,
project and role, and Keystone's own catalog entry); then the tests make projects, users
and role assignments through Keystone's v3 API with the admin's token.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-keystone"
MANAGE = VENV / "bin" / "keystone-manage"
GUNICORN = VENV / "bin" / "gunicorn"
ADMIN_PASSWORD = "keystone-admin-secret"


def missing() -> str | None:
    for path in (MANAGE, GUNICORN):
        if not path.exists():
            return f"{path} is missing: `make test` installs Keystone into {VENV.name}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Keystone:
    directory: Path
    token_expiration: int
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    # gunicorn's threads. SQLite takes one writer at a time: where many clients write at
    # once (tests/conformance: Tempest's users and projects), one thread avoids
    # "database is locked".
    threads: int = 4
    started_in: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3"

    @property
    def conf(self) -> Path:
        return self.directory / "keystone.conf"

    def start(self) -> None:
        began = time.monotonic()
        d = self.directory
        self.conf.write_text(
            "[DEFAULT]\n"
            f"log_dir = {d}\n"
            "[database]\n"
            f"connection = sqlite:///{d}/keystone.db\n"
            # bcrypt's fewest rounds: users are made and sign in many times here.
            "[identity]\n"
            "password_hash_rounds = 4\n"
            "[token]\n"
            "provider = fernet\n"
            f"expiration = {self.token_expiration}\n"
            "[fernet_tokens]\n"
            f"key_repository = {d}/fernet-keys\n"
            "[credential]\n"
            f"key_repository = {d}/credential-keys\n"
        )
        me = ["--keystone-user", "root", "--keystone-group", "root"]
        # Independent of each other: at once (each is seconds of imports; db_sync most).
        self._manage(["db_sync"], ["fernet_setup", *me], ["credential_setup", *me])
        self._manage(
            [
                "bootstrap",
                "--bootstrap-password",
                ADMIN_PASSWORD,
                "--bootstrap-public-url",
                self.url,
                "--bootstrap-region-id",
                "RegionOne",
            ]
        )
        env = {
            **os.environ,
            "OS_KEYSTONE_CONFIG_DIR": str(d),
            "OS_KEYSTONE_CONFIG_FILES": str(self.conf),
        }
        # Keystone's configuration (oslo.config) parses sys.argv when the app loads:
        # gunicorn's settings go in its config file, which also leaves argv bare.
        (d / "gunicorn.conf.py").write_text(
            "import sys\n"
            "sys.argv = sys.argv[:1]\n"
            f"bind = '127.0.0.1:{self.port}'\n"
            "workers = 1\n"
            f"threads = {self.threads}\n"
            "timeout = 120\n"
            "wsgi_app = 'keystone.wsgi.api:application'\n"
        )
        with open(d / "gunicorn.log", "wb") as out:
            self.proc = subprocess.Popen(
                [str(GUNICORN), "--config", str(d / "gunicorn.conf.py")],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=d,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"Keystone exited: {(d / 'gunicorn.log').read_text()[-3000:]}")
            try:
                if httpx.get(self.url, timeout=1).status_code == 200:
                    self.started_in = time.monotonic() - began
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"Keystone did not answer: {(d / 'gunicorn.log').read_text()[-3000:]}")

    def _manage(self, *commands: list[str]) -> None:
        """keystone-manage's ``commands``, side by side; each must succeed."""
        running = []
        for args in commands:
            log = self.directory / f"keystone-manage-{args[0]}.out"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [str(MANAGE), "--config-file", str(self.conf), *args],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.directory,
                )
            running.append((args[0], proc, log))
        for name, proc, log in running:
            try:
                proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            assert proc.returncode == 0, (
                f"keystone-manage {name} failed:\n{log.read_text()[-3000:]}"
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # gunicorn's master stops its workers
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # --- Keystone's v3 API ------------------------------------------------------------

    def token(self, user: str, password: str, project: str) -> str:
        """A project-scoped token for ``user`` (password authentication)."""
        response = httpx.post(
            f"{self.url}/auth/tokens",
            json={
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": user,
                                "domain": {"id": "default"},
                                "password": password,
                            }
                        },
                    },
                    "scope": {"project": {"name": project, "domain": {"id": "default"}}},
                }
            },
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return response.headers["X-Subject-Token"]

    def admin_token(self) -> str:
        return self.token("admin", ADMIN_PASSWORD, "admin")

    def revoke(self, token: str, admin_token: str | None = None) -> None:
        response = httpx.delete(
            f"{self.url}/auth/tokens",
            headers={"X-Auth-Token": admin_token or self.admin_token(), "X-Subject-Token": token},
            timeout=30,
        )
        assert response.status_code == 204, response.text


class Admin:
    """Keystone's v3 API as its admin."""

    def __init__(self, keystone: Keystone) -> None:
        self.keystone = keystone
        self.url = keystone.url
        self._token = ("", 0.0)

    @property
    def headers(self) -> dict[str, str]:
        """The admin's token, a new one past half its life (they are short here)."""
        issued = self._token[1]
        if time.monotonic() - issued > self.keystone.token_expiration / 2:
            self._token = (self.keystone.admin_token(), time.monotonic())
        return {"X-Auth-Token": self._token[0]}

    def create(self, kind: str, body: dict[str, object]) -> str:
        response = httpx.post(
            f"{self.url}/{kind}s", json={kind: body}, headers=self.headers, timeout=30
        )
        assert response.status_code == 201, f"create {kind}: {response.text}"
        return str(response.json()[kind]["id"])

    def role_id(self, name: str) -> str:
        response = httpx.get(
            f"{self.url}/roles", params={"name": name}, headers=self.headers, timeout=30
        )
        roles = response.json()["roles"]
        return str(roles[0]["id"]) if roles else self.create("role", {"name": name})

    def grant(self, project_id: str, user_id: str, role: str) -> None:
        response = httpx.put(
            f"{self.url}/projects/{project_id}/users/{user_id}/roles/{self.role_id(role)}",
            headers=self.headers,
            timeout=30,
        )
        assert response.status_code == 204, f"grant {role}: {response.text}"

    def user(self, name: str, password: str, project_id: str, *roles: str) -> str:
        user_id = self.create("user", {"name": name, "password": password, "domain_id": "default"})
        for role in roles:
            self.grant(project_id, user_id, role)
        return user_id

    def endpoint(self, service_type: str, name: str, url: str) -> None:
        service_id = self.create("service", {"type": service_type, "name": name})
        self.create(
            "endpoint",
            {"service_id": service_id, "interface": "public", "url": url, "region_id": "RegionOne"},
        )
