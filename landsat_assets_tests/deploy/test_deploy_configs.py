"""The deployment files agree with Dagster, the Helm chart, the Makefile and each other.

The instance files go through Dagster's own config validation and, for the SQLite one, a
real instance. The Helm values cannot be rendered here (no helm binary, no chart), so they
are checked against the key names of the chart's values schema for Dagster 1.13, and their
concurrency block is translated the way the chart's template does and handed to Dagster.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance, QueuedRunCoordinator
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.telemetry import log_action
from dagster._utils.concurrency import ConcurrencySlotStatus
from dagster_postgres import DagsterPostgresStorage
from packaging.specifiers import SpecifierSet

from landsat_assets.assets.common import IMAGERY_POOL
from landsat_assets_tests.support.deployment import LOCAL_INSTANCE, POSTGRES_INSTANCE, dagster_home
from landsat_assets_tests.support.paths import REPO_ROOT

DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
HELM_VALUES = REPO_ROOT / "deploy" / "helm" / "values.yaml"
MAKEFILE = REPO_ROOT / "Makefile"
PYPROJECT = REPO_ROOT / "pyproject.toml"

CODE_SERVER_PORT = 4000
# A URL nothing listens on: any attempt to connect during validation would fail loudly.
DUMMY_PG_URL = "postgresql://dagster:not-a-password@127.0.0.1:1/dagster"


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _code_location_module() -> str:
    return tomllib.loads(PYPROJECT.read_text())["tool"]["dagster"]["module_name"]


# --- instance files -------------------------------------------------------------------------


@pytest.mark.parametrize("source", [LOCAL_INSTANCE, POSTGRES_INSTANCE], ids=["sqlite", "postgres"])
def test_instance_file_passes_dagster_validation(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_PG_URL", DUMMY_PG_URL)
    config, custom_class = dagster_instance_config(
        str(dagster_home(tmp_path / "dagster_home", source))
    )

    assert custom_class is None
    assert config["telemetry"] == {"enabled": False}
    assert config["concurrency"]["runs"]["max_concurrent_runs"] > 0
    assert config["concurrency"]["pools"]["default_limit"] > 0
    # Run limits belong to `concurrency.runs`; the legacy places must stay empty.
    assert "run_queue" not in config
    assert not config["run_coordinator"].get("config")
    assert config["auto_materialize"]["use_sensors"] is True


def test_sqlite_instance_keeps_storage_under_the_instance_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No storage block: runs and schedules land in SQLite files inside DAGSTER_HOME."""
    assert "storage" not in _yaml(LOCAL_INSTANCE)
    home = dagster_home(tmp_path / "dagster_home", LOCAL_INSTANCE)
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.auto_materialize_enabled
        assert instance.auto_materialize_use_sensors
        assert instance.run_monitoring_enabled

    assert sorted(p.name for p in home.glob("**/*.db")) == ["index.db", "runs.db", "schedules.db"]


def test_imagery_pool_is_the_only_pool_so_the_default_limit_is_its_limit() -> None:
    """The deploy files cap imagery reads through `pools.default_limit`: true only while
    no other pool exists. They also name the pool in their override command."""
    from landsat_assets.definitions import defs

    pools = {
        op.pool
        for assets_def in defs.resolve_asset_graph().assets_defs
        if assets_def.is_executable
        for op in assets_def.node_def.iterate_op_defs()
        if op.pool
    }
    assert pools == {IMAGERY_POOL}
    for documented in (
        LOCAL_INSTANCE,
        POSTGRES_INSTANCE,
        HELM_VALUES,
        REPO_ROOT / "docs" / "deploy.md",
    ):
        assert f"concurrency set {IMAGERY_POOL} " in documented.read_text(), documented.name


def test_sqlite_instance_limits_the_imagery_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default pool limit really caps concurrent slots of `landsat_imagery`."""
    settings = _yaml(LOCAL_INSTANCE)["concurrency"]
    limit = settings["pools"]["default_limit"]
    home = dagster_home(tmp_path / "dagster_home", LOCAL_INSTANCE)
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    with DagsterInstance.from_config(str(home)) as instance:
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == limit
        assert concurrency.pool_config.pool_granularity.value == settings["pools"]["granularity"]
        assert (
            concurrency.run_queue_config.max_concurrent_runs
            == (settings["runs"]["max_concurrent_runs"])
        )

        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(IMAGERY_POOL)
        info = storage.get_concurrency_info(IMAGERY_POOL)
        assert (info.slot_count, info.using_default_limit) == (limit, True)

        statuses = [
            storage.claim_concurrency_slot(IMAGERY_POOL, "run-1", f"read_bands_{i}").slot_status
            for i in range(limit + 1)
        ]
    assert statuses == [ConcurrencySlotStatus.CLAIMED] * limit + [ConcurrencySlotStatus.BLOCKED]


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("enabled", [False, True], ids=["repo-setting", "control-enabled"])
def test_telemetry_setting_controls_what_dagster_writes(
    enabled: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the repository's setting nothing is written; the control proves the probe works."""
    settings = _yaml(LOCAL_INSTANCE)
    assert settings["telemetry"] == {"enabled": False}
    settings["telemetry"]["enabled"] = enabled
    home = dagster_home(tmp_path / "dagster_home", settings)
    user_home = tmp_path / "user"
    user_home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("HOME", str(user_home))

    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.telemetry_enabled is enabled
        before = _files_under(tmp_path)
        log_action(instance, "landsat_assets_deploy_test")
        written = _files_under(tmp_path) - before

    assert bool(written) is enabled
    assert (user_home / ".dagster").exists() is enabled


def test_postgres_instance_takes_its_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The storage config resolves DAGSTER_PG_URL without opening a connection."""
    home = dagster_home(tmp_path / "dagster_home", POSTGRES_INSTANCE)
    ref = InstanceRef.from_dir(str(home))
    assert (ref.storage_data.module_name, ref.storage_data.class_name) == (
        "dagster_postgres",
        "DagsterPostgresStorage",
    )
    storage_config = yaml.safe_load(ref.storage_data.config_yaml)
    assert storage_config == {"postgres_url": {"env": "DAGSTER_PG_URL"}}

    monkeypatch.setenv("DAGSTER_PG_URL", DUMMY_PG_URL)
    resolved = process_config(DagsterPostgresStorage.config_type(), storage_config)
    assert resolved.success, resolved.errors
    assert resolved.value["postgres_url"] == DUMMY_PG_URL

    monkeypatch.delenv("DAGSTER_PG_URL")
    assert not process_config(DagsterPostgresStorage.config_type(), storage_config).success


def _walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield (*path, str(key)), value
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, str(index)))


@pytest.mark.parametrize(
    "source", [LOCAL_INSTANCE, POSTGRES_INSTANCE, HELM_VALUES], ids=["sqlite", "postgres", "helm"]
)
def test_no_credential_is_written_in_deploy_files(source: Path) -> None:
    """Passwords, keys and database URLs may only appear as `{env: NAME}` references."""
    sensitive = re.compile(r"password|access_key|secret_key|postgres_url", re.IGNORECASE)
    for path, value in _walk(_yaml(source)):
        if sensitive.search(path[-1]):
            assert not isinstance(value, str), f"literal credential at {'.'.join(path)}"
            if isinstance(value, Mapping):
                assert set(value) == {"env"}, path


# --- Dockerfile and Makefile ----------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return [(head.upper(), rest.strip()) for head, _, rest in (s.partition(" ") for s in logical)]


def _instructions(name: str) -> list[str]:
    return [args for instruction, args in _dockerfile_instructions() if instruction == name]


@dataclass
class PipInstall:
    """The parts of a `pip install` command that decide what gets installed."""

    constraints: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    editable: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)

    @property
    def projects(self) -> list[str]:
        """Local project specs (`.`, `.[dev]`), as opposed to index packages such as `pip`."""
        return [s for s in self.editable + self.targets if s.startswith((".", "/"))]


_SHELL_SEPARATORS = {"&&", "||", ";", "|"}
_VALUE_OPTIONS = {
    "-c": "constraints",
    "--constraint": "constraints",
    "-r": "requirements",
    "--requirement": "requirements",
    "-e": "editable",
    "--editable": "editable",
}


def _pip_installs(command: str) -> list[PipInstall]:
    """Every `pip install` in a shell command, whatever runs pip (`python -m pip`, `.../pip`)."""
    tokens = shlex.split(command)
    found: list[PipInstall] = []
    for index, token in enumerate(tokens[:-1]):
        if not (token == "pip" or token.endswith("/pip")) or tokens[index + 1] != "install":
            continue
        install = PipInstall()
        args = iter(tokens[index + 2 :])
        for arg in args:
            if arg in _SHELL_SEPARATORS:
                break
            option, equals, inline = arg.partition("=")
            if option in _VALUE_OPTIONS:
                getattr(install, _VALUE_OPTIONS[option]).append(inline if equals else next(args))
            elif re.fullmatch(r"-[cre]\S+", arg):
                getattr(install, _VALUE_OPTIONS[arg[:2]]).append(arg[2:])
            elif not arg.startswith("-"):
                install.targets.append(arg)
        found.append(install)
    return found


def _project_path(spec: str) -> str:
    """`./[dev]` -> `.`: the project a spec installs, without its extras."""
    return os.path.normpath(spec.split("[", 1)[0])


def _extras(spec: str) -> set[str]:
    match = re.search(r"\[([^\]]*)\]", spec)
    return {e.strip() for e in match.group(1).split(",")} if match else set()


def _dockerfile_installs() -> list[PipInstall]:
    return [i for run in _instructions("RUN") for i in _pip_installs(run)]


def _dockerfile_install() -> PipInstall:
    """The one command that installs the project (and so every dependency) in the image."""
    installs = [i for i in _dockerfile_installs() if i.projects]
    assert len(installs) == 1, "the image should install the project with one pip command"
    return installs[0]


def _pip_pins(installs: list[PipInstall]) -> set[str]:
    return {t for i in installs for t in i.targets if re.fullmatch(r"pip==\S+", t)}


def _makefile_installs() -> list[PipInstall]:
    """`pip install` commands in the Makefile recipes, with simple make variables expanded
    and recipe lines continued with a backslash joined, as make hands them to the shell."""
    text = re.sub(r"\\\n\t?", " ", MAKEFILE.read_text())
    variables = dict(
        re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?::=|\?=|=)\s*(.*?)\s*$", text, re.MULTILINE)
    )

    def expand(line: str) -> str:
        for _ in range(10):
            line = re.sub(
                r"\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]",
                lambda m: variables.get(m.group(1), ""),
                line,
            )
        return line

    recipes = [expand(line) for line in text.splitlines() if line.startswith("\t")]
    return [install for recipe in recipes for install in _pip_installs(recipe.lstrip("\t@-+"))]


def test_dockerfile_installs_the_project_against_the_lock() -> None:
    install = _dockerfile_install()
    assert install.constraints == ["requirements.lock"]
    assert install.requirements == []
    assert install.editable == []
    assert install.targets == ["."]

    copied = " ".join(_instructions("COPY")).split()
    for needed in ("pyproject.toml", "requirements.lock", "landsat_assets"):
        assert needed in copied
        assert (REPO_ROOT / needed).exists()


def test_dockerfile_install_matches_the_makefile() -> None:
    if not MAKEFILE.exists():
        pytest.skip("Makefile not in the repository yet; the Dockerfile is checked on its own")
    make_all = _makefile_installs()
    assert _pip_pins(make_all) == _pip_pins(_dockerfile_installs()), "different pip versions"
    make_installs = [i for i in make_all if i.projects]
    assert make_installs, "the Makefile installs the project nowhere"
    image = _dockerfile_install()
    for make in make_installs:
        mismatch = f"Makefile: {make}\nDockerfile: {image}"
        assert make.constraints == image.constraints, mismatch
        assert make.requirements == image.requirements, mismatch
        assert [_project_path(p) for p in make.projects] == [
            _project_path(p) for p in image.projects
        ], mismatch
        assert "dev" in set().union(*(_extras(p) for p in make.projects)), mismatch
    assert set().union(*(_extras(p) for p in image.projects)) == set()


def test_dockerfile_runtime() -> None:
    (base,) = _instructions("FROM")
    version = re.fullmatch(r"python:(\d+\.\d+)-slim", base)
    assert version, base
    requires = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    assert version.group(1) + ".0" in SpecifierSet(requires)

    users = _instructions("USER")
    assert users and users[-1] not in {"root", "0"}
    assert _instructions("EXPOSE") == [str(CODE_SERVER_PORT)]
    # The chart and the run launcher pass full commands as args; an ENTRYPOINT would prefix them.
    assert _instructions("ENTRYPOINT") == []

    (cmd,) = _instructions("CMD")
    command = json.loads(cmd)
    assert command[:3] in (["dagster", "code-server", "start"], ["dagster", "api", "grpc"])
    assert command[command.index("-m") + 1] == _code_location_module()
    assert command[command.index("-p") + 1] == str(CODE_SERVER_PORT)


# --- Helm values ----------------------------------------------------------------------------

# Key names of the dagster/dagster chart's values schema (helm/dagster/schema in the Dagster
# repository, 1.13 line) for every section these values touch. The chart silently ignores
# unknown top-level keys, so a typo there would deploy without the intended setting.
_CHART_KEYS: dict[tuple[str, ...], set[str]] = {
    (): {
        "dagsterWebserver", "dagster-user-deployments", "postgresql",
        "generatePostgresqlPasswordSecret", "generateCeleryConfigSecret", "rabbitmq", "redis",
        "flower", "ingress", "imagePullSecrets", "computeLogManager", "scheduler",
        "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate", "telemetry",
        "serviceAccount", "global", "retention", "concurrency", "additionalInstanceConfig",
    },
    ("global",): {
        "postgresqlSecretName", "dagsterHome", "serviceAccountName", "celeryConfigSecretName",
    },
    ("postgresql",): {
        "image", "enabled", "postgresqlHost", "postgresqlUsername", "postgresqlPassword",
        "postgresqlDatabase", "postgresqlParams", "postgresqlScheme", "service",
    },
    ("postgresql", "service"): {"port"},
    ("dagster-user-deployments",): {
        "enabled", "enableSubchart", "imagePullSecrets", "deployments",
    },
    ("dagster-user-deployments", "deployments", "*"): {
        "name", "image", "port", "dagsterApiGrpcArgs", "codeServerArgs",
        "includeConfigInLaunchedRuns", "deploymentNamespace", "env", "envConfigMaps",
        "envSecrets", "annotations", "nodeSelector", "affinity", "tolerations",
        "podSecurityContext", "securityContext", "resources", "livenessProbe",
        "readinessProbe", "startupProbe", "labels", "volumeMounts", "volumes",
        "schedulerName", "initContainers", "sidecarContainers", "service",
    },
    ("dagster-user-deployments", "deployments", "*", "image"): {
        "repository", "tag", "pullPolicy",
    },
    ("dagster-user-deployments", "deployments", "*", "includeConfigInLaunchedRuns"): {"enabled"},
    ("dagster-user-deployments", "deployments", "*", "envSecrets", "*"): {"name", "optional"},
    ("runLauncher",): {"type", "config"},
    ("runLauncher", "config"): {"celeryK8sRunLauncher", "k8sRunLauncher", "customRunLauncher"},
    ("runLauncher", "config", "k8sRunLauncher"): {
        "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile",
        "envConfigMaps", "envSecrets", "envVars", "volumeMounts", "volumes", "labels",
        "failPodOnRunFailure", "resources", "schedulerName", "securityContext", "runK8sConfig",
    },
    ("dagsterDaemon",): {
        "enabled", "image", "runCoordinator", "heartbeatTolerance", "env", "envConfigMaps",
        "envSecrets", "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations",
        "podSecurityContext", "securityContext", "resources", "livenessProbe",
        "readinessProbe", "startupProbe", "annotations", "runMonitoring", "runRetries",
        "sensors", "schedules", "schedulerName", "volumeMounts", "volumes",
        "initContainerResources",
    },
    ("dagsterDaemon", "runCoordinator"): {"enabled", "type", "config"},
    ("dagsterDaemon", "runCoordinator", "config"): {
        "queuedRunCoordinator", "customRunCoordinator",
    },
    ("dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator"): {
        "maxConcurrentRuns", "tagConcurrencyLimits", "dequeueIntervalSeconds",
        "dequeueNumWorkers", "dequeueUseThreads", "blockOpConcurrencyLimitedRuns",
    },
    ("dagsterDaemon", "runMonitoring"): {
        "enabled", "startTimeoutSeconds", "cancelTimeoutSeconds", "maxResumeRunAttempts",
        "pollIntervalSeconds", "freeSlotsAfterRunEndSeconds",
    },
    ("concurrency",): {"enabled", "pools", "runs"},
    ("concurrency", "pools"): {"defaultLimit", "granularity", "opGranularityRunBuffer"},
    ("concurrency", "runs"): {"maxConcurrentRuns", "tagConcurrencyLimits"},
    ("telemetry",): {"enabled"},
}  # fmt: skip


def _sections(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every mapping in the values with its path; list items get the path element `*`."""
    if isinstance(node, Mapping):
        yield path, node
        for key, value in node.items():
            yield from _sections(value, (*path, key))
    elif isinstance(node, list):
        for value in node:
            yield from _sections(value, (*path, "*"))


# Chart fields whose content is passed through to Kubernetes or libpq as it is.
_FREE_FORM = {"resources", "postgresqlParams"}


def test_helm_values_use_only_chart_keys() -> None:
    for path, section in _sections(_yaml(HELM_VALUES)):
        where = ".".join(path) or "top level"
        if _FREE_FORM & set(path):
            continue
        assert path in _CHART_KEYS, f"{where}: section not covered by this test"
        unknown = set(section) - _CHART_KEYS[path]
        assert not unknown, f"{where}: not chart keys: {unknown}"


def test_helm_user_deployment_serves_the_code_location_from_the_image() -> None:
    values = _yaml(HELM_VALUES)
    user_code = values["dagster-user-deployments"]
    assert user_code["enabled"] is True
    (deployment,) = user_code["deployments"]
    assert {"repository", "tag", "pullPolicy"} <= set(deployment["image"])
    assert deployment["port"] == CODE_SERVER_PORT

    args = deployment.get("codeServerArgs") or deployment["dagsterApiGrpcArgs"]
    assert args[args.index("-m") + 1] == _code_location_module()
    # Storage settings reach the code server and, through includeConfigInLaunchedRuns, the runs.
    assert deployment["envSecrets"] and all(set(s) == {"name"} for s in deployment["envSecrets"])
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_UNITS = {
    None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40,
}  # fmt: skip


def _quantity(value: str | int) -> float:
    match = _QUANTITY.match(str(value))
    assert match, f"not a Kubernetes quantity: {value!r}"
    return float(match.group(1)) * _UNITS[match.group(2)]


@pytest.mark.parametrize(
    "path",
    [
        ("runLauncher", "config", "k8sRunLauncher", "resources"),
        ("dagster-user-deployments", "deployments", 0, "resources"),
    ],
    ids=["run-pods", "code-server"],
)
def test_helm_resources_request_no_more_than_their_limits(path: tuple[str | int, ...]) -> None:
    resources: Any = _yaml(HELM_VALUES)
    for key in path:
        resources = resources[key]
    for kind in ("cpu", "memory"):
        assert _quantity(resources["requests"][kind]) <= _quantity(resources["limits"][kind])


def test_helm_run_launcher_and_external_postgres() -> None:
    values = _yaml(HELM_VALUES)
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["enabled"] is False
    assert "postgresqlPassword" not in values["postgresql"]
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert values["telemetry"] == {"enabled": False}


def _chart_instance_concurrency(values: Mapping[str, Any]) -> dict[str, Any]:
    """The `concurrency` block the chart writes into dagster.yaml (its _concurrency.tpl)."""
    names = {
        "defaultLimit": "default_limit",
        "granularity": "granularity",
        "opGranularityRunBuffer": "op_granularity_run_buffer",
        "maxConcurrentRuns": "max_concurrent_runs",
        "tagConcurrencyLimits": "tag_concurrency_limits",
    }
    settings = values["concurrency"]
    return {
        section: {names[key]: value for key, value in settings[section].items()}
        for section in ("pools", "runs")
        if settings.get(section)
    }


def test_helm_concurrency_is_a_valid_dagster_instance_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = _yaml(HELM_VALUES)
    assert values["concurrency"]["enabled"] is True
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert (coordinator["enabled"], coordinator["type"]) == (True, "QueuedRunCoordinator")
    # The chart fails to render when these are set both here and under `concurrency`.
    queued = coordinator.get("config", {}).get("queuedRunCoordinator") or {}
    assert not {"maxConcurrentRuns", "tagConcurrencyLimits"} & set(queued)

    concurrency = _chart_instance_concurrency(values)
    home = dagster_home(
        tmp_path / "dagster_home",
        {
            "run_coordinator": {"module": "dagster", "class": "QueuedRunCoordinator"},
            "concurrency": concurrency,
            "telemetry": {"enabled": False},
        },
    )
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.from_config(str(home)) as instance:
        config = instance.get_concurrency_config()
    assert config.pool_config.default_pool_limit == concurrency["pools"]["default_limit"]
    assert config.pool_config.pool_granularity.value == concurrency["pools"]["granularity"]
    assert (
        config.run_queue_config.max_concurrent_runs == (concurrency["runs"]["max_concurrent_runs"])
    )
