"""Keystone authentication's pure parts: the role table (Octavia's default policy),
Keystone's URL, and serve's refusal of two ways to authenticate at once. The token
checks against a real Keystone are tests/functional/test_keystone.py."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from netnode.api.auth import Context, from_roles
from netnode.api.keystone import v3_url
from netnode.cli import config
from netnode.cli import serve as serve_cli
from netnode.cli.main import _parser
from netnode.errors import NetnodeError


@pytest.fixture(autouse=True)
def _no_settings_from_outside(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("NETNODE_CONFIG", "NETNODE_KEYSTONE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config, "DEFAULT_CONFIG", tmp_path / "absent.toml")


# roles a token holds -> (role, quota admin, sees every project, writes, sets quotas)
TABLE = [
    (["load-balancer_admin"], ("admin", False, True, True, True)),
    (["admin", "member", "reader"], ("admin", False, True, True, True)),
    (["load-balancer_member"], ("member", False, False, True, False)),
    (["member", "reader"], ("member", False, False, True, False)),
    (["load-balancer_observer"], ("reader", False, False, False, False)),
    (["reader"], ("reader", False, False, False, False)),
    (["load-balancer_global_observer"], ("global_reader", False, True, False, False)),
    (["load-balancer_quota_admin"], ("reader", True, False, False, True)),
    (["load-balancer_member", "load-balancer_quota_admin"], ("member", True, False, True, True)),
    # A writer that is also a global observer writes its own project and reads only it.
    (
        ["load-balancer_member", "load-balancer_global_observer"],
        ("member", False, False, True, False),
    ),
]


@pytest.mark.parametrize(("roles", "expected"), TABLE)
def test_roles_map_as_octavias_default_policy(roles: list[str], expected: tuple) -> None:
    ctx = from_roles("p1", roles)
    assert ctx is not None
    assert (ctx.role, ctx.quota_admin, ctx.sees_all, ctx.writes, ctx.sets_quotas) == expected
    assert ctx.may_see("p1")
    assert ctx.may_see("p2") == ctx.sees_all
    assert ctx.may_see_quota("p2") == (ctx.sees_all or ctx.sets_quotas)


def test_a_token_without_a_known_role_gets_nothing() -> None:
    assert from_roles("p1", ["heat_stack_owner", "service"]) is None
    assert from_roles("p1", []) is None


def test_the_tokens_file_roles_are_unchanged() -> None:
    assert Context("p", "member") == Context("p", "member", quota_admin=False)
    assert Context("p", "reader").writes is False and Context("p", "admin").is_admin


@pytest.mark.parametrize(
    "given",
    ["http://ks:5000", "http://ks:5000/", "http://ks:5000/v3", "http://ks:5000/v3/"],
)
def test_keystones_url_is_its_v3_endpoint(given: str) -> None:
    assert v3_url(given) == "http://ks:5000/v3"


def _parse(tmp_path: Path, *argv: str, toml: str = "") -> argparse.Namespace:
    if toml:
        path = tmp_path / "netnode.toml"
        path.write_text(toml)
        argv = ("--config", str(path), *argv)
    parser = _parser()
    config.apply(parser, argv)
    return parser.parse_args(argv)


def test_two_ways_to_authenticate_on_the_command_line_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse(tmp_path, "serve", "--tokens", "/t.yaml", "--keystone-url", "http://ks/v3")
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_file_and_a_flag_naming_two_ways_are_refused(tmp_path: Path) -> None:
    args = _parse(tmp_path, "serve", "--noauth", toml='[serve]\nkeystone-url = "http://ks/v3"\n')
    with pytest.raises(
        NetnodeError, match=r"exactly one way to authenticate.*--noauth, --keystone"
    ):
        serve_cli.auth_mode(args)
    args = _parse(tmp_path, "serve", toml='[serve]\nkeystone-url = "http://ks/v3"\n')
    assert serve_cli.auth_mode(args) == "--keystone-url"


def test_keystone_needs_the_service_users_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _parse(tmp_path, "serve", "--keystone-url", "http://127.0.0.1:1/v3")
    with pytest.raises(NetnodeError, match="needs the service user's password"):
        serve_cli.keystone_of(args)
    missing = tmp_path / "nope"
    args.keystone_password_file = missing
    with pytest.raises(NetnodeError, match=f"--keystone-password-file {missing}: cannot read"):
        serve_cli.keystone_of(args)
    secret = tmp_path / "pw"
    secret.write_text("s3cret\nignored\n")
    args.keystone_password_file = secret
    made = serve_cli.keystone_of(args)  # nothing asked of Keystone yet
    assert made.url == "http://127.0.0.1:1/v3" and made.cache_time == 300.0
    args.keystone_url = "ks:5000"
    with pytest.raises(NetnodeError, match="give Keystone's URL"):
        serve_cli.keystone_of(args)


def test_the_password_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETNODE_KEYSTONE_PASSWORD", "from-env")
    args = _parse(tmp_path, "serve", "--keystone-url", "http://127.0.0.1:1/v3")
    assert args.keystone_password == "from-env"
    assert serve_cli.keystone_of(args).url == "http://127.0.0.1:1/v3"
