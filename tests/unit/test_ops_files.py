"""The deployment files: Dockerfile (hadolint), compose.yaml (compose-spec schema + structure),
the systemd unit (systemd-analyze). Docker cannot run here, so these checks stand in for a
build: every file the Dockerfile copies must exist and reach the build context, the Asterisk
image must install what the test sandbox installs, compose must wire what callrouter reads.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs; comes with check-jsonschema
import pytest
import yaml

from callrouter.settings import Settings
from callrouter.web.settings import WebSettings
from tests.conftest import require_service

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
UNIT = ROOT / "config" / "systemd" / "callrouter.service"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        require_service(name, "not installed: pip install -e '.[dev]'")
        raise AssertionError("unreachable")  # require_service fails or skips
    return found


# ---------------------------------------------------------------------------- Dockerfile
BASE_ARGS: dict[str, str] = {}  # the Dockerfile's base-image arguments and their defaults


def _stages() -> list[dict[str, Any]]:
    """FROM lines and the instructions under each (continuations joined)."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    logical: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    stages: list[dict[str, Any]] = []
    for line in logical:
        word, _, rest = line.strip().partition(" ")
        if word.upper() == "ARG" and not stages:  # a base image's build argument: its default
            name, _, default = rest.strip().partition("=")
            BASE_ARGS[name] = default
        elif word.upper() == "FROM":
            m = re.fullmatch(r"\$\{(\w+)\}(?:\s+AS\s+(\S+))?", rest.strip(), re.IGNORECASE)
            assert m is not None, f"{line}: the base image must be a build argument"
            image = BASE_ARGS[m.group(1)]
            stages.append({"image": image, "arg": m.group(1), "name": m.group(2), "lines": []})
        else:
            stages[-1]["lines"].append((word.upper(), " ".join(rest.split())))
    return stages


def test_hadolint_passes_on_the_dockerfile() -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint really bites: an unpinned base and sudo are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN sudo apt-get install -y curl\n", encoding="utf-8")
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
    assert "DL3004" in result.stdout  # sudo


def test_dockerfile_is_multi_stage_with_a_non_root_pinned_callrouter_image() -> None:
    stages = _stages()
    names = [s["name"] for s in stages]
    assert names == ["build", "asterisk", "callrouter"]  # the default target is the last one
    final = stages[-1]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", final["image"]), final["image"]
    assert stages[0]["image"] == final["image"]
    users = [rest for word, rest in final["lines"] if word == "USER"]
    assert users == ["10022:10022"]
    asterisk_users = [rest for word, rest in stages[1]["lines"] if word == "USER"]
    assert asterisk_users == ["10023:10023"]
    copies_from_build = [rest for word, rest in final["lines"] if rest.startswith("--from=")]
    assert copies_from_build == ["--from=build /wheels /wheels"]


def _dockerignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    return any(
        fnmatch.fnmatch(path, p) or fnmatch.fnmatch(parts[0], p) or fnmatch.fnmatch(path, p + "/*")
        for p in patterns
    )


def test_every_file_the_dockerfile_copies_exists_and_reaches_the_build_context() -> None:
    sources: list[str] = []
    for stage in _stages():
        for word, rest in stage["lines"]:
            if word == "COPY" and not rest.startswith("--from="):
                sources.extend(rest.split()[:-1])
    assert "migrations" in sources
    assert "dialplan/extensions_callrouter.conf" in sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert not _dockerignored(source), f"COPY {source}: excluded by .dockerignore"
    assert _dockerignored(".venv")
    assert _dockerignored("tests/unit/test_ops_files.py")


def test_migrations_land_where_the_installed_package_looks_for_them() -> None:
    from callrouter.store import migrate

    assert Path(migrate.__file__).resolve().parents[2] / "migrations" == migrate.MIGRATIONS_DIR
    final = _stages()[-1]
    python = re.match(r"python:(\d+\.\d+)", final["image"])
    assert python is not None
    # The install directory depends on the base (site-packages, or Debian's dist-packages):
    # the image links the copied scripts next to the package and checks that migrate finds them.
    assert ("COPY", "migrations /opt/callrouter/migrations") in final["lines"]
    runs = " ".join(rest for word, rest in final["lines"] if word == "RUN")
    assert "ln -s /opt/callrouter/migrations" in runs
    assert "migrate.MIGRATIONS_DIR" in runs


def test_asterisk_image_installs_what_the_test_sandbox_installs() -> None:
    sandbox = (ROOT / "scripts" / "asterisk-sandbox").read_text(encoding="utf-8")
    block = re.search(r"^PACKAGES = \[(.*?)^\]", sandbox, re.MULTILINE | re.DOTALL)
    assert block is not None
    wanted = set(re.findall(r'"([a-z0-9.+-]+)"', block.group(1)))
    asterisk = _stages()[1]
    runs = " ".join(rest for word, rest in asterisk["lines"] if word == "RUN")
    install = re.search(r"apt-get install (.*?)&&", runs)
    assert install is not None
    installed = {w for w in install.group(1).split() if not w.startswith("-")}
    assert wanted <= installed, wanted - installed
    # No systemd-tmpfiles in a container: the control socket's directory must be made.
    assert "chown asterisk:asterisk /var/log/asterisk/cdr-custom /var/run/asterisk" in runs
    # Prompts rendered with the sandbox's own espeak-ng and sox settings.
    assert "espeak-ng -v vi -s 150" in runs
    assert "-r 8000 -c 1 -b 16" in runs
    assert "/usr/share/asterisk/sounds/vi/callrouter/" in runs


# ---------------------------------------------------------------------------- compose.yaml
def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _compose_schema() -> dict[str, Any]:
    path = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


def test_compose_file_validates_against_the_compose_spec_schema() -> None:
    schema = _compose_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(_compose()), key=lambda e: list(e.path))
    assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("services", "callrouter", "restart"), 5),
        (("services", "asterisk", "healthcheck", "intervall"), "10s"),
        (("servics",), {}),
    ],
)
def test_compose_schema_check_rejects_broken_files(path: tuple[str, ...], value: object) -> None:
    broken = copy.deepcopy(_compose())
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    validator = jsonschema.Draft202012Validator(_compose_schema())
    assert list(validator.iter_errors(broken)) != []


def test_compose_runs_asterisk_callrouter_and_postgresql_from_this_dockerfile() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"asterisk", "callrouter", "guard", "postgres"}
    # the guard runs the router's image, in a container of its own that outlives the router's
    assert services["guard"]["image"] == services["callrouter"]["image"]
    assert services["guard"]["entrypoint"][:2] == ["callrouter", "guard"]
    stages = {s["name"] for s in _stages()}
    for name in ("asterisk", "callrouter"):
        build = services[name]["build"]
        assert build["context"] == "."
        assert build["dockerfile"] == "Dockerfile"
        assert build["target"] in stages
    depends = services["callrouter"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["asterisk"]["condition"] == "service_healthy"
    image = re.fullmatch(
        r"\$\{CALLROUTER_POSTGRES_IMAGE:-(postgres:\d+\.\d+-\w+)\}", services["postgres"]["image"]
    )
    assert image is not None, services["postgres"]["image"]
    # The bases are build arguments (defaults in the Dockerfile) a local build overrides.
    assert services["asterisk"]["build"]["args"] == ["ASTERISK_BASE_IMAGE"]
    assert services["callrouter"]["build"]["args"] == ["PYTHON_IMAGE"]
    assert {s["arg"] for s in _stages()} == {"ASTERISK_BASE_IMAGE", "PYTHON_IMAGE"}
    assert "healthcheck" in services["postgres"]
    assert "healthcheck" in services["asterisk"]


def test_compose_references_only_defined_volumes_and_secrets_and_no_plain_secrets() -> None:
    compose = _compose()
    volumes, secrets = set(compose["volumes"]), set(compose["secrets"])
    for name, service in compose["services"].items():
        for secret in service.get("secrets", []):
            assert secret in secrets, f"{name}: secret {secret} not defined"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name}: volume {source} not defined"
        for key, value in service.get("environment", {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|DATABASE_URL", key):
                assert key.endswith("_FILE"), f"{name}: {key} must come from a secret file"
                assert str(value).startswith("/run/secrets/")
                assert str(value).removeprefix("/run/secrets/") in service["secrets"]


def test_compose_environment_names_are_settings_callrouter_reads() -> None:
    env = _compose()["services"]["callrouter"]["environment"]
    core = set(Settings.model_fields)
    web = set(WebSettings.model_fields)
    for key in env:
        name = key.removesuffix("_FILE")
        if name.startswith("CALLROUTER_WEB_"):
            assert name.removeprefix("CALLROUTER_WEB_").lower() in web, key
        else:
            assert name.removeprefix("CALLROUTER_").lower() in core, key


def test_compose_shares_the_fallback_include_and_recordings_between_the_containers() -> None:
    services = _compose()["services"]
    env = services["callrouter"]["environment"]

    def mounts(name: str) -> dict[str, str]:
        out = {}
        for mount in services[name]["volumes"]:
            source, target, *_ = mount.split(":")
            out[target] = source
        return out

    include_dir = str(Path(env["CALLROUTER_DIALPLAN_INCLUDE"]).parent)
    assert mounts("callrouter")[include_dir] == mounts("asterisk")[include_dir]
    recordings = env["CALLROUTER_WEB_RECORDINGS_DIR"]
    assert mounts("callrouter")[recordings] == mounts("asterisk")[recordings]
    assert mounts("callrouter")["/etc/callrouter/rota.yaml"] == "./local/rota.yaml"
    # The Asterisk image links the include where the shipped dialplan #tryincludes it.
    runs = " ".join(rest for word, rest in _stages()[1]["lines"] if word == "RUN")
    assert (
        f"ln -sf {include_dir}/callrouter_fallback.conf /etc/asterisk/callrouter_fallback.conf"
        in (runs)
    )
    shipped = (ROOT / "dialplan" / "extensions_callrouter.conf").read_text(encoding="utf-8")
    assert "#tryinclude callrouter_fallback.conf" in shipped


# ---------------------------------------------------------------------------- systemd
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    # verify checks that ExecStart exists: point it at this checkout's installed command.
    here = _tool("callrouter")
    unit = tmp_path / "callrouter.service"
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace("/opt/callrouter/.venv/bin/callrouter", here),
        encoding="utf-8",
    )
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    ours = [line for line in result.stderr.splitlines() if "callrouter.service" in line]
    assert ours == []


def test_systemd_unit_runs_serve_hardened_with_secrets_as_credentials() -> None:
    text = UNIT.read_text(encoding="utf-8")
    service: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#") and section == "Service":
            key, _, value = line.partition("=")
            service.setdefault(key, []).append(value)
    assert service["ExecStart"] == [
        "/opt/callrouter/.venv/bin/callrouter serve --json-logs --drain 30"
    ]
    assert service["ExecStartPre"] == ["/opt/callrouter/.venv/bin/callrouter db upgrade"]
    assert int(service["TimeoutStopSec"][0]) > 30  # room for the 30 s drain
    assert service["User"] == ["callrouter"]
    assert service["NoNewPrivileges"] == ["yes"]
    assert service["ProtectSystem"] == ["strict"]
    assert service["CapabilityBoundingSet"] == [""]
    expected = {
        "ari-password": "CALLROUTER_ARI_PASSWORD_FILE",
        "database-url": "CALLROUTER_DATABASE_URL_FILE",
        "web-session-secret": "CALLROUTER_WEB_SESSION_SECRET_FILE",
        "metrics-token": "CALLROUTER_WEB_METRICS_TOKEN_FILE",
    }
    creds = {v.split(":")[0] for v in service["LoadCredentialEncrypted"]}
    assert creds == set(expected)
    env = service["Environment"][0].split()
    for cred, var in expected.items():
        assert f"{var}=%d/{cred}" in env, var
    assert not re.search(r"(PASSWORD|SECRET|TOKEN)=(?!%d/)", text)
    # It may write its state and the include file's own directory, never all of /etc/asterisk.
    assert service["ReadWritePaths"] == ["/var/lib/callrouter-dialplan"]
    include = "CALLROUTER_DIALPLAN_INCLUDE=/var/lib/callrouter-dialplan/callrouter_fallback.conf"
    assert include in env
