"""The container setup, checked without a Docker engine: every file the compose file and the
Dockerfiles reference exists, and every environment variable they use is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from .conftest import REPO

DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
# Where a variable counts as documented: the README and the typed settings modules.
DOC_FILES = [
    REPO / "README.md",
    REPO / "deploy_manager" / "settings.py",
    REPO / "deploy_manager" / "alerts" / "settings.py",
    REPO / "deploy_manager" / "automation" / "settings.py",
    REPO / "api_service" / "settings.py",
]
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def documentation() -> str:
    return "\n".join(path.read_text() for path in DOC_FILES if path.is_file())


def _built_services(compose: dict) -> dict[str, dict]:
    return {name: spec for name, spec in compose["services"].items() if "build" in spec}


def _dockerfile(spec: dict) -> tuple[Path, Path]:
    context = (COMPOSE.parent / spec["build"]["context"]).resolve()
    return context, context / spec["build"].get("dockerfile", "Dockerfile")


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """Return (instruction, arguments) pairs with continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def test_compose_has_every_platform_process(compose):
    assert set(compose["services"]) == {"postgres", "code", "webserver", "daemon", "api"}


def test_build_contexts_dockerfiles_and_targets_exist(compose):
    for name, spec in _built_services(compose).items():
        context, dockerfile = _dockerfile(spec)
        assert context.is_dir(), name
        assert dockerfile.is_file(), name
        target = spec["build"].get("target")
        if target:
            stages = [a.split()[-1] for i, a in _instructions(dockerfile) if i == "FROM"]
            assert target in stages, (name, target, stages)


def test_copied_files_exist(compose):
    checked = 0
    for spec in _built_services(compose).values():
        context, dockerfile = _dockerfile(spec)
        for instruction, arguments in _instructions(dockerfile):
            if instruction not in ("COPY", "ADD") or "--from=" in arguments:
                continue
            *sources, _destination = arguments.split()
            for source in sources:
                assert (context / source).exists(), f"{dockerfile.name}: {source} is missing"
                checked += 1
    assert checked >= 6


def test_images_have_java_17_and_jdbc_driver(compose):
    for name in ("code", "webserver", "daemon", "api"):
        _, dockerfile = _dockerfile(compose["services"][name])
        text = dockerfile.read_text()
        assert "openjdk-17-jre-headless" in text, name
        assert "libpostgresql-jdbc-java" in text, name


def test_environment_variables_are_documented(compose, documentation):
    names = set(INTERPOLATION.findall(COMPOSE.read_text()))
    for spec in compose["services"].values():
        names |= set(spec.get("environment") or {})
    for spec in _built_services(compose).values():
        _, dockerfile = _dockerfile(spec)
        for instruction, arguments in _instructions(dockerfile):
            if instruction == "ENV":
                names |= {pair.split("=", 1)[0] for pair in arguments.split()}
    undocumented = sorted(n for n in names if not re.search(rf"\b{n}\b", documentation))
    assert undocumented == []
    assert len(names) >= 15


def test_instance_variables_are_set_for_dagster_processes(compose):
    needed = set(re.findall(r"env: (\w+)", (REPO / "dagster.yaml").read_text()))
    assert needed >= {"DAGSTER_PG_HOST", "DAGSTER_STORAGE_DIR"}
    for name in ("code", "webserver", "daemon"):
        assert needed <= set(compose["services"][name]["environment"]), name


def test_workspace_points_at_code_service(compose):
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    _, dockerfile = _dockerfile(compose["services"]["code"])
    code_stage = dockerfile.read_text().split("AS code", 1)[1].split("FROM", 1)[0]
    assert server["host"] in compose["services"]
    assert f'"-p", "{server["port"]}"' in code_stage
    assert server["location_name"] == "deploy_manager"


def test_published_ports_are_loopback_only(compose):
    for name, spec in compose["services"].items():
        for port in spec.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_named_volumes_are_declared(compose):
    declared = set(compose.get("volumes") or {})
    for name, spec in compose["services"].items():
        for volume in spec.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, (name, source)
