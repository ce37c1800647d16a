"""The AMI configuration shipped and run: no default secret anywhere, the image writes the
secret from a secret file at start (or refuses to start), and the AMI user has exactly the
rights callrouter uses, in the image and in the test sandbox alike."""

from __future__ import annotations

import configparser
import importlib.machinery
import importlib.util
import os
import re
import stat
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "dialplan" / "manager.conf"
ENTRYPOINT = ROOT / "scripts" / "asterisk-entrypoint"
SECRET = "k3Y.for_tests-only+abcdefgh"  # noqa: S105 (a test-only value)


def _sections(text: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(
        inline_comment_prefixes=(";",), comment_prefixes=(";",), strict=False
    )
    parser.read_string(text)
    return {name: dict(parser[name]) for name in parser.sections()}


def test_the_shipped_manager_conf_has_no_secret_and_only_what_callrouter_uses() -> None:
    sections = _sections(SHIPPED.read_text(encoding="utf-8"))
    assert not any("secret" in values for values in sections.values())
    user = sections["callrouter"]
    # Originate for call-backs; Reload of pbx_config is a `config` action; the events read are
    # OriginateResponse (call) and the call-back context's UserEvents (user).
    assert set(user["write"].split(",")) == {"originate", "config"}
    assert set(user["read"].split(",")) == {"call", "user"}
    assert user["permit"] == "127.0.0.1/255.255.255.255"
    assert sections["general"]["bindaddr"] == "127.0.0.1"
    # The guard lists channels (reporting) and redirects / hangs up (call): nothing more.
    guard = sections["callrouter-guard"]
    assert set(guard["write"].split(",")) == {"call", "reporting"}
    assert set(guard["read"].split(",")) == {"call", "reporting"}
    assert guard["permit"] == "127.0.0.1/255.255.255.255"
    assert set(sections) == {"general", "callrouter", "callrouter-guard"}


def test_the_image_has_no_manager_conf_of_its_own_only_the_template_and_the_entrypoint() -> None:
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    asterisk_stage = docker.split("FROM ")[2]
    copies = re.findall(r"^COPY ((?:.*\\\n)*.*)$", asterisk_stage, re.MULTILINE)
    to_etc = [c for c in copies if c.rstrip().endswith("/etc/asterisk/")]
    assert to_etc
    assert all("manager.conf" not in c for c in to_etc)
    assert "COPY dialplan/manager.conf /usr/share/callrouter/manager.conf.in" in asterisk_stage
    assert 'ENTRYPOINT ["/usr/local/bin/asterisk-entrypoint"]' in asterisk_stage


def _entrypoint(
    tmp_path: Path, secret: str | None, guard: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "CALLROUTER_AMI_SECRET_FILE": str(tmp_path / "ami-password"),
        "CALLROUTER_GUARD_AMI_SECRET_FILE": str(tmp_path / "guard-ami-password"),
        "ASTERISK_MANAGER_TEMPLATE": str(SHIPPED),
        "ASTERISK_MANAGER_CONF": str(tmp_path / "manager.conf"),
    }
    if secret is not None:
        (tmp_path / "ami-password").write_text(secret + "\n", encoding="utf-8")
    if guard is not None:
        (tmp_path / "guard-ami-password").write_text(guard + "\n", encoding="utf-8")
    return subprocess.run(
        [str(ENTRYPOINT), "echo", "asterisk started"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_entrypoint_writes_the_secret_from_the_file_and_then_starts(tmp_path: Path) -> None:
    done = _entrypoint(tmp_path, SECRET)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "asterisk started\n"
    written = tmp_path / "manager.conf"
    sections = _sections(written.read_text(encoding="utf-8"))
    assert sections["callrouter"]["secret"] == SECRET
    assert sections["callrouter"]["write"] == "originate,config"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    # Without the guard's own secret file, nobody can log in as the guard.
    assert "secret" not in sections["callrouter-guard"]
    assert "no guard log-in" in done.stderr


def test_the_guard_gets_its_own_secret_from_its_file(tmp_path: Path) -> None:
    guard_secret = "guard.secret-for_tests-only+xyz"  # noqa: S105 (a test-only value)
    done = _entrypoint(tmp_path, SECRET, guard_secret)
    assert done.returncode == 0, done.stderr
    sections = _sections((tmp_path / "manager.conf").read_text(encoding="utf-8"))
    assert sections["callrouter-guard"]["secret"] == guard_secret
    assert sections["callrouter"]["secret"] == SECRET
    again = tmp_path / "again"
    again.mkdir()
    same = _entrypoint(again, SECRET, SECRET)
    assert same.returncode == 64
    assert "a secret of its own" in same.stderr


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "no AMI secret file"),
        ("", "at least 16 characters"),
        ("CHANGE-ME", "at least 16 characters"),
        ("a-long-enough-secret;read=all", "use only"),
        ("a long enough secret with spaces", "use only"),
    ],
)
def test_without_a_usable_secret_file_the_container_does_not_start(
    tmp_path: Path, secret: str | None, message: str
) -> None:
    done = _entrypoint(tmp_path, secret)
    assert done.returncode == 64
    assert message in done.stderr
    assert done.stdout == ""  # Asterisk never ran
    assert not (tmp_path / "manager.conf").exists()


def _sandbox_script() -> ModuleType:
    path = ROOT / "scripts" / "asterisk-sandbox"
    loader = importlib.machinery.SourceFileLoader("asterisk_sandbox", str(path))
    spec = importlib.util.spec_from_loader("asterisk_sandbox", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_sandbox_pbx_gives_callrouter_exactly_the_shipped_rights() -> None:
    sandbox = _sandbox_script()
    pbx = sandbox.settings()["pbx"]
    users = _sections(sandbox.shipped_ami_users(pbx["ami_secret"]))
    shipped = _sections(SHIPPED.read_text(encoding="utf-8"))
    assert set(users) == {pbx["ami_user"], "callrouter-guard"}
    for name, rights in users.items():
        assert rights == {**shipped[name], "secret": pbx["ami_secret"]}
    # The harness logs in as another user: callrouter's never gets more.
    assert pbx["harness_ami_user"] != pbx["ami_user"]
    common = (ROOT / "tests" / "asterisk" / "common" / "manager.conf").read_text(encoding="utf-8")
    assert "[callrouter]" not in common
