"""The container path, for real: images built from a clean clone with podman, the compose stack
up (PostgreSQL, Asterisk, callrouter, guard), a real call through the containerised pbx.

scripts/containers builds the local base images when the registry's are not here (they never
are on these machines), then both project images from a `git clone` of this checkout, starts
compose.yaml with podman-compose and runs the healthchecks until all are healthy. Then:
- the callrouter container migrated the containerised PostgreSQL itself (Alembic head);
- the sandbox's pstn Asterisk calls 1022 on the containerised pbx, which runs the shipped
  dialplan and hands the call to the containerised callrouter over ARI; the officer's phone
  (on the pstn) rings and answers, and the row lands in the containerised PostgreSQL;
- `callrouter report monthly` inside the container writes the DOCX;
- the stack stops and starts again and the row is still there;
- the images run as non-root users, and no secret is in an image (history, environment, files)
  or in a container's environment listing (`podman inspect`): they arrive as files;
- the Asterisk image has no AMI secret of its own and refuses to start without one.

One deviation from compose.yaml as shipped (an override file written by the test): the
sandbox's pstn listens and identifies its trunk peer on 127.0.0.1 only, so the containerised
Asterisk takes the host's network (SIP on a port of its own) instead of publishing ports from
the compose network. PostgreSQL stays on the compose network, published on a free loopback port.

Under scripts/test (CI) the bases and images are built in the background while the rest of the
suite runs (CALLROUTER_CONTAINERS_BUILD_LOG names that build's log; its exit status is in
``<log>.rc``): this test waits for that build first and fails naming the log if it failed, then
builds from the clone, which podman's layer cache makes a matter of seconds. Run alone, the test
builds everything itself (scripts/containers takes a lock: one build at a time). tests/conftest.py
collects it last, so the wait is short.

Times (build, start-to-healthy) and image sizes are printed (run with -s to see them).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import require_service
from tests.e2e.agi_support import free_port
from tests.e2e.callflow_support import engine_for, wait_for_call, write_rota
from tests.e2e.harness import ANSWERS, Harness, Sandbox, SandboxInfo, officer_number

# The fixture's wait for scripts/test's background build is bounded by BUILD_WAIT; the timeout
# below is the test's own (func_only: fixtures are not counted).
BUILD_WAIT = 1800.0
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500, func_only=True)]

REPO = Path(__file__).resolve().parents[2]
PROJECT = "callrouter-ci"
IMAGES = {"callrouter:local": "10022:10022", "callrouter-asterisk:local": "10023:10023"}
SECRET_NAMES = (
    "postgres-password",
    "database-url",
    "ari-password",
    "ami-password",
    "web-session-secret",
    "metrics-token",
    "guard-ami-password",
)


def _env() -> dict[str, str]:
    conf = Path(os.environ.get("CALLROUTER_CONTAINERS_CACHE", "/var/cache/callrouter/containers"))
    return {**os.environ, "CONTAINERS_CONF": str(conf / "containers.conf")}


def podman(*args: str, check: bool = True, timeout: float = 120) -> str:
    res = subprocess.run(
        ["podman", *args], env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and res.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: exit {res.returncode}\n{res.stderr}")
    return res.stdout


@dataclass
class Stack:
    clone: Path
    secrets: dict[str, str]
    database_url: str
    sip_port: int
    officer: str

    def script(self, *args: str, timeout: float = 1200) -> str:
        """scripts/containers of the clone; its output is echoed (times, sizes)."""
        cmd = [str(self.clone / "scripts/containers"), *args, "--dir", str(self.clone)]
        cmd += ["--project", PROJECT, "--file", str(self.clone / "local/compose.ci.yaml")]
        # The clone has no .venv: podman-compose (>= 1.1) from the one running the tests, unless
        # CALLROUTER_PODMAN_COMPOSE names one.
        compose = os.environ.get("CALLROUTER_PODMAN_COMPOSE") or str(
            Path(sys.executable).parent / "podman-compose"
        )
        env = {**os.environ, "CALLROUTER_PODMAN_COMPOSE": compose}
        res = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
        print(res.stdout + res.stderr)  # the stage's measurements, shown with -s
        assert res.returncode == 0, f"{' '.join(args)}: exit {res.returncode}\n{res.stderr}"
        return res.stdout

    def container(self, service: str) -> str:
        names = podman(
            "ps",
            "--filter",
            f"label=io.podman.compose.project={PROJECT}",
            "--filter",
            f"label=com.docker.compose.service={service}",
            "--format",
            "{{.Names}}",
        ).split()
        assert len(names) == 1, (service, names)
        return names[0]


def _require_podman() -> None:
    if os.geteuid() != 0:
        require_service("podman (rootful)", "the container stage needs root")
    for tool in ("podman", "runc", "git"):
        if shutil.which(tool) is None:
            require_service(tool, "not installed (scripts/apt-packages.txt)")


def _wait_for_background_build() -> None:
    """The build scripts/test started in the background (CALLROUTER_CONTAINERS_BUILD_LOG), if
    any: wait until it has finished; fail, naming its log, if it failed."""
    log = os.environ.get("CALLROUTER_CONTAINERS_BUILD_LOG")
    if not log:
        return
    status = Path(log + ".rc")
    t0 = time.monotonic()
    while not status.exists():
        if time.monotonic() - t0 > BUILD_WAIT:
            pytest.fail(
                f"the background container build is not done after {BUILD_WAIT:.0f} s: {log}"
            )
        time.sleep(0.5)  # poll for the build's exit-status file (deadline above)
    rc = status.read_text(encoding="utf-8").strip()
    text = Path(log).read_text(encoding="utf-8", errors="replace")
    print(f"container stage: waited {time.monotonic() - t0:.1f} s for the background build")
    print(text)
    if rc != "0":
        pytest.fail(
            f"the background container build (scripts/containers build) failed with exit {rc};"
            f" its log is {log}:\n{text[-4000:]}",
            pytrace=False,
        )


def _write_local(clone: Path, info: SandboxInfo, stack_secrets: dict[str, str]) -> Stack:
    """local/ as an operator fills it (compose.yaml's header), for the sandbox's pstn."""
    local = clone / "local"
    (local / "asterisk").mkdir(parents=True)
    (local / "secrets").mkdir()
    officer = officer_number(ANSWERS)
    write_rota(local / "rota.yaml", [officer])
    sip_port = info.pbx.sip_port + 50  # no slot's instance uses it
    pjsip = (REPO / "tests/asterisk/pbx/pjsip.conf").read_text(encoding="utf-8")
    pjsip = pjsip.replace("@SIP_PORT@", str(sip_port))
    pjsip = pjsip.replace("@PEER_SIP_PORT@", str(info.pstn.sip_port))
    (local / "asterisk/pjsip.conf").write_text(pjsip, encoding="utf-8")
    (local / "asterisk/ari.conf").write_text(
        "[general]\nenabled = yes\n\n[callrouter]\ntype = user\nread_only = no\n"
        f"password = {stack_secrets['ari-password']}\n",
        encoding="utf-8",
    )
    pg_port = free_port()
    database_url = (
        f"postgresql+asyncpg://callrouter:{stack_secrets['postgres-password']}"
        f"@127.0.0.1:{pg_port}/callrouter"
    )
    stack_secrets["database-url"] = database_url
    for name, value in stack_secrets.items():
        (local / "secrets" / name).write_text(value + "\n", encoding="utf-8")
    (local / "callrouter.env").write_text("", encoding="utf-8")
    # compose.yaml's variables for this run (podman-compose reads .env beside compose.yaml).
    (clone / ".env").write_text(f"CALLROUTER_POSTGRES_PORT={pg_port}\n", encoding="utf-8")
    (local / "compose.ci.yaml").write_text(
        "services:\n"
        "  asterisk:\n"
        "    network_mode: host\n"
        "  callrouter:\n"
        "    environment:\n"
        "      CALLROUTER_WEB_HOST: 127.0.0.1\n",
        encoding="utf-8",
    )
    return Stack(clone, stack_secrets, database_url, sip_port, officer)


@pytest.fixture
def stack(sandbox: Sandbox, tmp_path: Path) -> Iterator[Stack]:
    _require_podman()
    _wait_for_background_build()  # before any scripts/containers run of this test
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)], check=True)
    stack_secrets = {name: secrets.token_hex(24) for name in SECRET_NAMES}
    result = _write_local(clone, sandbox.info(), stack_secrets)
    result.script("down", "--volumes")  # a previous run's leftovers
    try:
        yield result
    finally:
        result.script("down", "--volumes")


def _scalar(stack: Stack, sql: str) -> str:
    """One value from the containerised PostgreSQL, asked inside its container."""
    return podman(
        "exec",
        "--env",
        f"PGPASSWORD={stack.secrets['postgres-password']}",
        stack.container("postgres"),
        "psql",
        "--host=127.0.0.1",
        "--username=callrouter",
        "--dbname=callrouter",
        "--tuples-only",
        "--no-align",
        "--command",
        sql,
    ).strip()


def _assert_no_secret(stack: Stack, text: str, where: str) -> None:
    for name, value in stack.secrets.items():
        if name == "database-url":
            continue  # holds the postgres password, checked as such
        assert value not in text, f"secret {name} found in {where}"


def _check_images(stack: Stack) -> None:
    for image, user in IMAGES.items():
        inspected = json.loads(podman("image", "inspect", image))[0]
        config = inspected["Config"]
        assert config["User"] == user, (image, config["User"])
        env = "\n".join(config.get("Env", []))
        assert "PASSWORD=" not in env, (image, env)
        assert "SECRET=" not in env, (image, env)
        _assert_no_secret(stack, json.dumps(inspected), f"{image} inspect")
        history = podman("history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
        _assert_no_secret(stack, history, f"{image} history")
        assert "secret" not in history.lower().replace("secrets", ""), history
    # The Asterisk image's AMI configuration: the template the entrypoint fills and the
    # package's sample manager.conf (replaced at every start) carry no secret.
    for path in ("/usr/share/callrouter/manager.conf.in", "/etc/asterisk/manager.conf"):
        conf = podman("run", "--rm", "--entrypoint", "cat", "callrouter-asterisk:local", path)
        active = [line.split(";")[0].strip() for line in conf.splitlines()]
        assert not [line for line in active if line.startswith("secret")], (path, conf)
    refused = subprocess.run(
        ["podman", "run", "--rm", "callrouter-asterisk:local"],
        env=_env(), capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 64, refused
    assert "no AMI secret file" in refused.stderr


def _check_containers(stack: Stack) -> None:
    for service in ("postgres", "asterisk", "callrouter", "guard"):
        inspected = podman("container", "inspect", stack.container(service))
        _assert_no_secret(stack, inspected, f"{service} container inspect")
        assert stack.secrets["postgres-password"] not in inspected
    user = podman("exec", stack.container("callrouter"), "id", "-u").strip()
    assert user == "10022"
    seen = podman("exec", stack.container("callrouter"), "cat", "/run/secrets/ari-password")
    assert seen.strip() == stack.secrets["ari-password"]


async def _call_through_the_stack(stack: Stack, sandbox: Sandbox) -> str:
    async with Harness(sandbox.info()) as harness:
        call = await harness.place_call(
            digits="3", hold=6, pbx_uri=f"sip:1022@127.0.0.1:{stack.sip_port}"
        )
        engine = engine_for(stack.database_url)
        try:
            rows = await wait_for_call(engine, call.caller_number, within=60)
        finally:
            await engine.dispose()
        officer = harness.officer(stack.officer, call)
        assert officer.rang, officer
        assert officer.answered, officer
    assert rows.call["outcome"] == "answered", rows.call
    assert rows.call["mode"] == "ari"
    return call.caller_number


async def test_images_build_and_the_stack_answers_a_real_call(
    stack: Stack, sandbox: Sandbox
) -> None:
    t0 = time.monotonic()
    stack.script("build")
    print(f"container stage: images built in {time.monotonic() - t0:.1f} s")
    _check_images(stack)

    stack.script("up")
    head = _scalar(stack, "SELECT version_num FROM alembic_version")
    migrations = sorted((REPO / "migrations/versions").glob("*.py"))
    assert head, "no alembic_version row: the callrouter container did not migrate"
    assert any(m.name.startswith(head) for m in migrations), head
    _check_containers(stack)

    caller = await _call_through_the_stack(stack, sandbox)
    assert caller.isdigit()  # goes into the SQL text below
    count = f"SELECT count(*) FROM calls WHERE caller = '{caller}' AND outcome = 'answered'"  # noqa: S608
    assert _scalar(stack, count) == "1"

    # This calendar month so far (it holds the call just made): --cutoff 0, --partial.
    month = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m")
    router = stack.container("callrouter")
    period = ["--month", month, "--cutoff", "0", "--partial"]
    figures = json.loads(
        podman("exec", router, "callrouter", "report", "monthly", *period, "--format", "json")
    )
    assert figures["totals"]["answered"] == 1, figures["totals"]
    podman(
        "exec", router, "callrouter", "report", "monthly", *period,
        "--format", "docx", "--out", "/var/lib/callrouter/bao-cao.docx",
    )  # fmt: skip
    out = stack.clone / "bao-cao.docx"
    podman("cp", f"{router}:/var/lib/callrouter/bao-cao.docx", str(out))
    with zipfile.ZipFile(out) as docx:
        document = docx.read("word/document.xml").decode("utf-8")
    assert "1022" in document

    stack.script("down")
    stack.script("up")
    assert _scalar(stack, count) == "1"
