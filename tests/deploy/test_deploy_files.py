"""The deployment files (deploy/) hold together: compose services, their variables and secrets,
the Dockerfile, the Kubernetes objects and .env.example agree with each other and with the package.

No container engine runs these here; the tests check by construction what `docker compose up`,
`docker build` and `kubectl apply` would rely on.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

FARM_SERVICES = ("worker", "beat", "flower")
REQUIRED_FARM_ENV = (
    "FARM_BROKER_URL",
    "FARM_RESULT_BACKEND",
    "FARM_REDIS_URL",
    "FARM_S3_BUCKET",
    "FARM_S3_ENDPOINT_URL",
    "FARM_S3_PREFIX",
    "FARM_IMPORTS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "PYTHONPATH",
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|AUTH", re.IGNORECASE)
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, ${NAME:+alt}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
BARE_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


# --- helpers ---------------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def interpolated_names(text: str) -> set[str]:
    """Variables compose would substitute: `${NAME...}` and `$NAME`, not the escaped `$$`."""
    names: set[str] = set()
    i = 0
    while i < len(text):
        if text[i] != "$":
            i += 1
            continue
        if text.startswith("$$", i):
            i += 2
            continue
        braced = INTERPOLATION.match(text, i)
        bare = BARE_VARIABLE.match(text, i)
        if braced:
            names.add(braced["name"])
            i = braced.end()
        elif bare:
            names.add(bare[1])
            i = bare.end()
        else:
            i += 1
    return names


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {str(k): ("" if v is None else str(v)) for k, v in env.items()}


def host(url: str) -> str:
    return urlparse(url).hostname or ""


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # the short form has no conditions
        return {name: "service_started" for name in deps}
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def published_ports(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(host_ip, published, target) per published port; host_ip '' means every interface."""
    out = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            out.append((str(port.get("host_ip", "")), str(port.get("published", "")), str(port["target"])))
            continue
        spec = str(port).split("/", 1)[0]
        if spec.startswith("["):  # [::1]:5555:5555
            ip, rest = spec[1:].split("]:", 1)
            published, target = rest.split(":", 1)
            out.append((ip, published, target))
            continue
        parts = spec.split(":")
        if len(parts) == 3:
            out.append((parts[0], parts[1], parts[2]))
        elif len(parts) == 2:
            out.append(("", parts[0], parts[1]))
        else:
            out.append(("", "", parts[0]))  # container port only: an ephemeral port on every interface
    return out


def is_interpolated_secret(value: str) -> bool:
    """The value is made only of `${...}` references without literal defaults (separators allowed)."""
    refs = list(INTERPOLATION.finditer(value))
    if not refs:
        return False
    if any(ref["op"] in ("-", ":-", "+", ":+") for ref in refs):  # a default would be a literal secret
        return False
    rest = INTERPOLATION.sub("", value)
    return not re.search(r"[A-Za-z0-9]", rest)


def parse_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    lines = path.read_text().splitlines()
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        assert "=" in stripped, f"{path.name}: not NAME=value: {line!r}"
        name, value = stripped.split("=", 1)
        values[name.strip()] = value.strip()
    return values, lines


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, args = line.partition(" ")
        out.append((word.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return out


def load_k8s() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    found = [doc for _, doc in load_k8s() if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind} {name!r}, found {len(found)}"
    return found[0]


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return deployment["spec"]["template"]["spec"]["containers"]


FARM_DEPLOYMENTS = ("farm-worker", "farm-beat", "farm-flower")


# --- compose.yaml ----------------------------------------------------------------------------


def test_compose_has_the_expected_services():
    services = load_compose()["services"]
    assert {"redis", "cache", "minio", "minio-init", "worker", "beat", "flower"} <= set(services)


def test_farm_services_share_one_image_built_from_deploy_dockerfile():
    services = load_compose()["services"]
    images = set()
    for name in FARM_SERVICES:
        service = services[name]
        build = service.get("build")
        assert isinstance(build, dict), f"{name}: no build section"
        context = (DEPLOY / build.get("context", ".")).resolve()
        assert context == ROOT, f"{name}: the build context must be the repository root, not {context}"
        assert (context / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()
        images.add(service.get("image"))
    assert len(images) == 1 and None not in images, f"worker, beat and flower must run one image: {images}"


def test_farm_service_commands():
    services = load_compose()["services"]
    assert services["worker"]["command"] == ["worker", "--concurrency", "2"]
    assert services["beat"]["command"] == ["beat"]
    assert services["flower"]["command"] == ["flower"]
    assert services["worker"].get("deploy", {}).get("replicas", 1) >= 2
    assert "container_name" not in services["worker"], "a fixed container name prevents --scale"
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1, "exactly one beat"
    assert "scale" not in services["beat"]


@pytest.mark.parametrize("name", FARM_SERVICES)
def test_every_farm_service_has_the_farm_environment(name):
    env = environment(load_compose()["services"][name])
    missing = [var for var in REQUIRED_FARM_ENV if var not in env]
    assert not missing, f"{name} lacks {missing}"
    assert env["PYTHONPATH"].split(":")[0] == "/app/user"
    assert host(env["FARM_S3_ENDPOINT_URL"]) == "minio"


def test_broker_and_cache_are_different_redis_services():
    services = load_compose()["services"]
    for name in FARM_SERVICES:
        env = environment(services[name])
        broker, backend, cache = (
            host(env[v]) for v in ("FARM_BROKER_URL", "FARM_RESULT_BACKEND", "FARM_REDIS_URL")
        )
        assert broker == backend == "redis"
        assert cache == "cache"
        assert broker != cache
        assert broker in services and cache in services
    broker_cmd = " ".join(services["redis"]["command"])
    cache_cmd = " ".join(services["cache"]["command"])
    assert "--appendonly yes" in broker_cmd
    assert "allkeys-lru" not in broker_cmd, "an evicting broker would drop queued tasks"
    assert "--maxmemory-policy allkeys-lru" in cache_cmd
    assert services["redis"]["image"].startswith("redis:7") and services["cache"]["image"].startswith(
        "redis:7"
    )


def test_user_code_is_mounted_read_only_at_app_user():
    services = load_compose()["services"]
    for name in FARM_SERVICES:
        mounts = []
        for volume in services[name].get("volumes") or []:
            if isinstance(volume, dict):
                mounts.append((volume["target"], bool(volume.get("read_only"))))
            else:
                parts = str(volume).split(":")
                mounts.append((parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
        assert ("/app/user", True) in mounts, f"{name}: /app/user must be mounted read-only, got {mounts}"


def test_every_published_port_is_loopback_only_and_flower_is_on_5555():
    services = load_compose()["services"]
    for name, service in services.items():
        for ip, published, target in published_ports(service):
            assert ip in ("127.0.0.1", "::1"), (
                f"{name} publishes {published}->{target} on {ip or 'every interface'}"
            )
    assert ("127.0.0.1", "5555", "5555") in published_ports(services["flower"])


def test_no_literal_secret_values_in_compose():
    compose = load_compose()
    for name, service in compose["services"].items():
        for var, value in environment(service).items():
            if SECRET_NAME.search(var):
                assert is_interpolated_secret(value), (
                    f"{name}: {var} must come from ${{...}} without a default, not {value!r}"
                )


def test_flower_credentials_come_from_the_env_file_and_are_required():
    env = environment(load_compose()["services"]["flower"])
    for var in ("FARM_FLOWER_USER", "FARM_FLOWER_PASSWORD"):
        (ref,) = INTERPOLATION.finditer(env[var])
        assert ref["name"] == var
        assert ref["op"] in (":?", "?"), f"an unset {var} must stop compose"
    # Docker forwards a published port to the container's address, not to its loopback.
    assert env.get("FARM_FLOWER_ADDRESS") == "0.0.0.0"


def test_depends_on_conditions():
    services = load_compose()["services"]
    for name in ("worker", "beat"):
        deps = depends_on(services[name])
        assert deps.get("redis") == "service_healthy", name
        assert deps.get("cache") == "service_healthy", name
        assert deps.get("minio-init") == "service_completed_successfully", name
    assert depends_on(services["flower"]).get("redis") == "service_healthy"
    assert depends_on(services["minio-init"]).get("minio") == "service_healthy"
    # Waiting for "healthy" needs a health check on the dependency.
    for name, service in services.items():
        for dep, condition in depends_on(service).items():
            assert dep in services, f"{name} depends on an unknown service {dep}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], (
                    f"{name} waits for {dep} to be healthy, but it has no healthcheck"
                )


def test_health_checks():
    services = load_compose()["services"]
    for name in ("redis", "cache", "minio", "worker", "flower"):
        test = services[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name}: no usable healthcheck"
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    assert "/healthcheck" in " ".join(services["flower"]["healthcheck"]["test"])


def test_minio_init_creates_the_configured_bucket_once():
    services = load_compose()["services"]
    init = services["minio-init"]
    assert init["image"].split(":")[0] == "minio/mc"
    script = " ".join(init.get("entrypoint") or []) + " " + " ".join(init.get("command") or [])
    assert "mc mb" in script and "$$FARM_S3_BUCKET" in script
    assert environment(init)["FARM_S3_BUCKET"] == environment(services["worker"])["FARM_S3_BUCKET"]
    assert init.get("restart", "no") == "no"


def test_worker_gets_time_to_finish_its_tasks():
    grace = load_compose()["services"]["worker"].get("stop_grace_period", "10s")
    seconds = sum(
        int(n) * {"h": 3600, "m": 60, "s": 1}[unit] for n, unit in re.findall(r"(\d+)([hms])", grace)
    )
    assert seconds >= 300


def test_named_volumes_are_declared():
    compose = load_compose()
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, str):
                source = volume.split(":")[0]
                if not source.startswith((".", "/", "$", "~")):
                    assert source in declared, f"{name} uses undeclared volume {source}"


# --- .env.example ----------------------------------------------------------------------------


def test_env_example_lists_every_interpolated_variable_with_a_comment():
    used = interpolated_names((DEPLOY / "compose.yaml").read_text())
    assert {"AWS_SECRET_ACCESS_KEY", "FARM_FLOWER_PASSWORD", "FARM_S3_BUCKET"} <= used  # the parser works
    values, lines = parse_env_file(DEPLOY / ".env.example")
    missing = sorted(used - set(values))
    assert not missing, f".env.example lacks {missing}"
    unused = sorted(set(values) - used)
    assert not unused, f".env.example sets variables compose.yaml never reads: {unused}"
    for index, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            assert index > 0 and lines[index - 1].lstrip().startswith("#"), f"no comment above {line!r}"


def test_env_example_holds_only_placeholders_for_secrets():
    values, _ = parse_env_file(DEPLOY / ".env.example")
    for name, value in values.items():
        if SECRET_NAME.search(name):
            assert value.startswith("change-me"), (
                f"{name} in .env.example must be an obvious placeholder, not {value!r}"
            )


def test_required_variables_stop_compose_when_unset():
    text = (DEPLOY / "compose.yaml").read_text()
    ops = {}
    for m in INTERPOLATION.finditer(text):
        ops.setdefault(m["name"], set()).add(m["op"])
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "FARM_FLOWER_USER",
        "FARM_FLOWER_PASSWORD",
        "FARM_S3_BUCKET",
    ):
        assert ops[name] <= {":?", "?"}, f"{name} must be required (${{{name}:?...}}), got {ops[name]}"


# --- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_base_user_entrypoint_and_command():
    instructions = dockerfile_instructions(DEPLOY / "Dockerfile")
    words = [word for word, _ in instructions]
    froms = [args for word, args in instructions if word == "FROM"]
    assert froms[-1].split()[0] == "python:3.11-slim"
    users = [args for word, args in instructions if word == "USER"]
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in ("root", "0"), users[-1]
    last_run = max(i for i, word in enumerate(words) if word == "RUN")
    last_user = max(i for i, word in enumerate(words) if word == "USER")
    assert last_user > last_run, (
        "USER must come after the last RUN (the install runs as root, the process does not)"
    )
    entrypoints = [args for word, args in instructions if word == "ENTRYPOINT"]
    assert json.loads(entrypoints[-1]) == ["farm"]
    cmds = [args for word, args in instructions if word == "CMD"]
    assert json.loads(cmds[-1]) == ["worker"]
    env = " ".join(args for word, args in instructions if word == "ENV")
    assert re.search(r"\bPYTHONUNBUFFERED=1\b", env)
    assert "HEALTHCHECK" in words


def test_dockerfile_copies_and_installs_the_package_without_dev_extras():
    instructions = dockerfile_instructions(DEPLOY / "Dockerfile")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    copied: set[str] = set()
    for word, args in instructions:
        if word in ("COPY", "ADD"):
            parts = [p for p in args.split() if not p.startswith("--")]
            copied.update(p.rstrip("/") for p in parts[:-1])
    needed = {"pyproject.toml", pyproject["project"]["readme"], *packages}
    assert needed <= copied, f"the Dockerfile does not copy {sorted(needed - copied)}"
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: not in the build context (the repository root)"
    runs = " ".join(args for word, args in instructions if word == "RUN")
    assert re.search(r"pip install (\S+ )*\.(\s|$)", runs), (
        "the package is not installed with `pip install .`"
    )
    assert "[dev]" not in runs and "[bench]" not in runs and " -e " not in runs


# --- settings the files set are settings the farm reads ---------------------------------------

# Set by the deploy files for `farm flower` (listen on the container's address), not yet a
# FarmSettings field: `farm flower` passes --address=127.0.0.1, which inside a container leaves the
# published port / the pod address with nothing behind it. Drop this once FarmSettings has it.
def test_every_farm_variable_is_a_farm_setting():
    from farm.config import FarmSettings

    prefix = FarmSettings.model_config.get("env_prefix", "")
    known = {f"{prefix}{name}".upper() for name in FarmSettings.model_fields}
    used = {var for service in load_compose()["services"].values() for var in environment(service)}
    used |= set(k8s_object("ConfigMap", "farm-config")["data"])
    used |= set(parse_env_file(DEPLOY / ".env.example")[0])
    for _, doc in load_k8s():
        if doc["kind"] == "Secret":
            used |= set(doc.get("stringData", {}))
        if doc["kind"] == "Deployment":
            used |= {e["name"] for c in containers(doc) for e in c.get("env", [])}
    unknown = sorted(v for v in used if v.startswith("FARM_") and v not in known)
    # .env.example also holds compose-only knobs (image, user code dir, cache size): not settings.
    unknown = [v for v in unknown if v not in {"FARM_IMAGE", "FARM_USER_CODE_DIR", "FARM_CACHE_MAXMEMORY"}]
    assert not unknown, f"not FarmSettings fields (typos?): {unknown}"


def test_visibility_timeout_outlasts_the_worker_grace_period():
    data = k8s_object("ConfigMap", "farm-config")["data"]
    grace = k8s_object("Deployment", "farm-worker")["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ]
    assert int(data["FARM_VISIBILITY_TIMEOUT"]) >= grace
    values, _ = parse_env_file(DEPLOY / ".env.example")
    assert int(values["FARM_VISIBILITY_TIMEOUT"]) >= grace


# --- Kubernetes ------------------------------------------------------------------------------


EXPECTED_K8S_FILES = {
    "namespace.yaml",
    "configmap.yaml",
    "secret.example.yaml",
    "redis-broker.yaml",
    "redis-cache.yaml",
    "worker.yaml",
    "flower.yaml",
    "beat.yaml",
}


def test_k8s_files_and_object_headers():
    assert {p.name for p in K8S.glob("*.yaml")} >= EXPECTED_K8S_FILES
    docs = load_k8s()
    namespaces = {doc["metadata"]["name"] for _, doc in docs if doc["kind"] == "Namespace"}
    assert namespaces == {"backtest-farm"}
    for filename, doc in docs:
        assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"], filename
        assert isinstance(doc.get("kind"), str) and doc["kind"], filename
        assert doc.get("metadata", {}).get("name"), f"{filename}: {doc['kind']} without metadata.name"
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "backtest-farm", (
                f"{filename}: {doc['metadata']['name']}"
            )
    keys = [(doc["kind"], doc["metadata"]["name"]) for _, doc in docs]
    assert len(keys) == len(set(keys)), "duplicate objects"


def test_k8s_deployments_and_services_match_their_pods():
    docs = [doc for _, doc in load_k8s()]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} >= {"redis-broker", "redis-cache", *FARM_DEPLOYMENTS}
    for d in deployments:
        assert d["apiVersion"] == "apps/v1"
        selector = d["spec"]["selector"]["matchLabels"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), d["metadata"]["name"]
        assert all(c.get("image") for c in containers(d))
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments]
    for s in (d for d in docs if d["kind"] == "Service"):
        assert s["spec"].get("type", "ClusterIP") == "ClusterIP", (
            f"{s['metadata']['name']} must not be exposed"
        )
        assert any(s["spec"]["selector"].items() <= labels.items() for labels in pod_labels), s["metadata"][
            "name"
        ]
    assert not [d for d in docs if d["kind"] == "Ingress"], "no Ingress: Flower is reached with port-forward"


def test_k8s_farm_deployments_use_one_image_and_run_non_root():
    images = set()
    for name in FARM_DEPLOYMENTS:
        d = k8s_object("Deployment", name)
        (container,) = containers(d)
        images.add(container["image"])
        pod_security = d["spec"]["template"]["spec"].get("securityContext", {})
        assert pod_security.get("runAsNonRoot") is True, name
        assert pod_security.get("runAsUser", 0) != 0, name
    assert len(images) == 1, images


def test_k8s_worker():
    worker = k8s_object("Deployment", "farm-worker")
    assert worker["spec"]["replicas"] == 4
    pod = worker["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 300
    (container,) = containers(worker)
    assert container["args"][0] == "worker"
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][section]), section
    sources = {(k, v["name"]) for item in container["envFrom"] for k, v in item.items() if k.endswith("Ref")}
    configmap = k8s_object("ConfigMap", "farm-config")
    assert ("configMapRef", configmap["metadata"]["name"]) in sources
    assert ("secretRef", "farm-secrets") in sources
    text = (K8S / "worker.yaml").read_text().lower()
    assert "acks_late" in text and "visibility" in text, "worker.yaml must explain why pod kills are safe"


def test_k8s_beat_is_a_single_recreated_replica():
    beat = k8s_object("Deployment", "farm-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert containers(beat)[0]["args"] == ["beat"]


def test_k8s_flower_is_cluster_internal_with_auth_from_a_secret():
    flower = k8s_object("Deployment", "farm-flower")
    (container,) = containers(flower)
    assert container["args"] == ["flower"]
    secrets = {item["secretRef"]["name"] for item in container["envFrom"] if "secretRef" in item}
    assert secrets == {"farm-flower-auth"}, "Flower needs its credentials and no S3 keys"
    example = k8s_object("Secret", "farm-flower-auth-example")
    assert {"FARM_FLOWER_USER", "FARM_FLOWER_PASSWORD"} <= set(example["stringData"])
    service = k8s_object("Service", "farm-flower")
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert [p["port"] for p in service["spec"]["ports"]] == [5555]


def test_k8s_configmap_has_the_farm_settings_and_no_secrets():
    data = k8s_object("ConfigMap", "farm-config")["data"]
    for var in (
        "FARM_BROKER_URL",
        "FARM_RESULT_BACKEND",
        "FARM_REDIS_URL",
        "FARM_S3_BUCKET",
        "FARM_S3_PREFIX",
        "FARM_IMPORTS",
    ):
        assert var in data, var
    assert not [k for k in data if SECRET_NAME.search(k)], "secrets belong in a Secret"
    assert data.get("FARM_S3_ENDPOINT_URL", "x") != "", "an empty endpoint URL is not 'unset'"
    services = {doc["metadata"]["name"] for _, doc in load_k8s() if doc["kind"] == "Service"}
    broker, cache = host(data["FARM_BROKER_URL"]), host(data["FARM_REDIS_URL"])
    assert broker != cache and {broker, cache} <= services
    assert host(data["FARM_RESULT_BACKEND"]) == broker
    broker_args = " ".join(containers(k8s_object("Deployment", broker))[0]["args"])
    cache_args = " ".join(containers(k8s_object("Deployment", cache))[0]["args"])
    assert "allkeys-lru" not in broker_args and "--appendonly yes" in broker_args
    assert "--maxmemory-policy allkeys-lru" in cache_args


def test_k8s_secrets_stay_out_of_manifests():
    docs = [doc for _, doc in load_k8s()]
    referenced = set()
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        for c in containers(d):
            for item in c.get("envFrom", []):
                if "secretRef" in item:
                    referenced.add(item["secretRef"]["name"])
            for e in c.get("env", []):
                if SECRET_NAME.search(e["name"]):
                    assert "value" not in e and "secretKeyRef" in e.get("valueFrom", {}), (
                        f"literal secret {e['name']}"
                    )
                    referenced.add(e["valueFrom"]["secretKeyRef"]["name"])
    assert referenced == {"farm-secrets", "farm-flower-auth"}
    for secret in (d for d in docs if d["kind"] == "Secret"):
        name = secret["metadata"]["name"]
        # `kubectl apply -f deploy/k8s/` applies the example too: it must never replace the real Secret.
        assert name not in referenced, f"the example Secret {name} would overwrite the real one"
        for key, value in {**secret.get("stringData", {}), **secret.get("data", {})}.items():
            if SECRET_NAME.search(key):
                assert "change-me" in str(value), f"{name}.{key} must be a placeholder"
    example_keys = {k for d in docs if d["kind"] == "Secret" for k in d.get("stringData", {})}
    assert {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "FARM_FLOWER_USER",
        "FARM_FLOWER_PASSWORD",
    } <= example_keys


# --- README ----------------------------------------------------------------------------------


def test_deploy_readme_gives_the_commands():
    text = (DEPLOY / "README.md").read_text()
    for needle in (
        "cp deploy/.env.example deploy/.env",
        "docker compose -f deploy/compose.yaml --env-file deploy/.env up -d",
        "--scale worker=",
        "run --rm",
        "127.0.0.1:5555",
        "kubectl apply -f deploy/k8s/",
        "port-forward",
        "tests/deploy/test_deploy_files.py",
    ):
        assert needle in text, needle
