"""`make build` for real: x86_64 assets imported and run under Python 3.13, pruning proven, arm64 wheels checked.

The x86_64 smoke tests emulate Lambda's python3.13 runtime: an isolated interpreter (``-I -S``: no site-packages,
no environment) whose path is the asset first and then a directory holding only the SDK the runtime provides
(boto3 and its closure, at the locked versions). Every module of the function's own packages must import from
its compiled bytecode, and psycopg must use its bundled libpq (Lambda has no system libpq). Then each handler
runs in a fresh interpreter through the paths that import lazily (Secrets Manager credentials, an RDS IAM token,
X-Ray tracing on, the dead-letter queue), against the real PostgreSQL and moto of the integration suite: every
module they load must be one the static import graph reaches, which is what the builder's pruning proof reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from sluice_cdk import import_graph
from sluice_cdk.build import (
    FUNCTIONS,
    RUNTIME_PROVIDED,
    UNLOADED_SUFFIXES,
    BuildResult,
    Toolchain,
    check_pruned_imports,
    ensure_built,
    find_workspace_root,
    install_runtime_sdk,
    scan_imports,
)
from sluice_cdk.config import LAMBDA_PYTHON_VERSION, Architecture
from sluice_shared import environment as env
from tests.integration.consumer.conftest import receive_all
from tests.support.events import load_event
from tests.support.events_table import COUNT_EVENTS
from tests.support.factories import event_body, event_dict
from tests.support.sqs import FAKE_CREDENTIALS
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.slow

ROOT: Final = find_workspace_root(Path(__file__).parent)
SPECS: Final = {spec.name: spec for spec in FUNCTIONS}
CHILD: Final = Path(__file__).with_name("lambda_child.py")
# An X-Ray trace header as Lambda sets it for a sampled invocation (the SDK reads it in Lambda mode).
TRACE_ID: Final = "Root=1-6750a1d8-35bb0f9f2b8b2a9c6c7c3c6f;Parent=53995c3f42cd8ad8;Sampled=1"
EM_AARCH64: Final = 183  # ELF e_machine of 64-bit ARM
EM_X86_64: Final = 62
# Imports every module of the given packages from the asset and reports what came from bytecode.
SMOKE: Final = """
import importlib, json, os, pkgutil, sys
asset, runtime, *packages = sys.argv[1:]
sys.path[:0] = [asset, runtime]
imported, failed = [], {}
for name in packages:
    package = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(package.__path__, prefix=name + "."):
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except Exception as exc:
            failed[info.name] = f"{type(exc).__name__}: {exc}"
report = {"imported": sorted(imported), "failed": failed, "version": "%d.%d" % sys.version_info[:2]}
if os.path.isdir(os.path.join(asset, "psycopg")):  # the driver itself: which libpq does it load?
    report["psycopg_impl"] = importlib.import_module("psycopg").pq.__impl__
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    return Toolchain.discover()


@pytest.fixture(scope="module")
def x86_assets(tmp_path_factory: pytest.TempPathFactory, toolchain: Toolchain) -> dict[str, BuildResult]:
    return ensure_built(Architecture.X86_64, root=ROOT, out_dir=tmp_path_factory.mktemp("build"), toolchain=toolchain)


@pytest.fixture(scope="module")
def runtime_sdk(tmp_path_factory: pytest.TempPathFactory, toolchain: Toolchain) -> Path:
    """Only what Lambda's runtime provides (boto3 and its closure), at the locked versions, for x86_64."""
    target = tmp_path_factory.mktemp("runtime")
    install_runtime_sdk(target, arch=Architecture.X86_64, root=ROOT, toolchain=toolchain)
    return target


def _modules(asset: Path, packages: tuple[str, ...]) -> list[str]:
    names = []
    for package in packages:
        for source in (asset / package).rglob("*.py"):
            parts = source.relative_to(asset).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def _machines(asset: Path) -> set[int]:
    return {int.from_bytes(path.read_bytes()[18:20], "little") for path in asset.rglob("*.so*") if path.is_file()}


@pytest.mark.parametrize("function", ["consumer", "ingest"])
def test_x86_64_asset_imports_every_module_under_the_lambda_python(
    function: str, x86_assets: dict[str, BuildResult], runtime_sdk: Path, toolchain: Toolchain
) -> None:
    asset = x86_assets[function].path
    packages = SPECS[function].packages

    # -I -S: no site-packages and no environment, like /var/lang on Lambda; -B: never rewrite the bytecode.
    completed = subprocess.run(
        [toolchain.python, "-I", "-S", "-B", "-v", "-c", SMOKE, str(asset), str(runtime_sdk), *packages],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(completed.stdout)

    assert report["failed"] == {}
    assert report["version"] == LAMBDA_PYTHON_VERSION
    assert set(_modules(asset, packages)) <= set(report["imported"])
    compiled = [line for line in completed.stderr.splitlines() if line.startswith("# code object from")]
    from_asset = [line for line in compiled if str(asset) in line]
    assert [line for line in from_asset if not line.endswith(".cpython-313.pyc'")] == []  # none compiled on import
    assert len(from_asset) >= len(report["imported"])
    if function == "consumer":
        assert report["psycopg_impl"] == "binary"


def test_assets_hold_only_their_own_function_and_no_runtime_sdk(x86_assets: dict[str, BuildResult]) -> None:
    consumer = {entry.name for entry in x86_assets["consumer"].path.iterdir()}
    ingest = {entry.name for entry in x86_assets["ingest"].path.iterdir()}
    sdk = set(RUNTIME_PROVIDED.values()) | {f"{module}.py" for module in RUNTIME_PROVIDED.values()}

    assert {"sluice_consumer", "sluice_shared", "psycopg_binary"} <= consumer
    assert consumer.isdisjoint({"sluice_ingest", "sluice_cli", "sluice_cdk"} | sdk)
    assert {"sluice_ingest", "sluice_shared"} <= ingest
    assert ingest.isdisjoint({"sluice_consumer", "sluice_cli", "sluice_cdk", "psycopg", "psycopg_binary"} | sdk)
    assert _machines(x86_assets["consumer"].path) == {EM_X86_64}


def test_bytecode_is_hash_checked_and_names_the_lambda_path(x86_assets: dict[str, BuildResult]) -> None:
    asset = x86_assets["ingest"].path
    sources = sorted((asset / "sluice_shared").rglob("*.py"))
    compiled = [source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc" for source in sources]

    assert sources
    assert all(path.is_file() for path in compiled)
    # PEP 552 flags: 0b01 = hash-based, source not checked (zip timestamps cannot invalidate it).
    assert {int.from_bytes(path.read_bytes()[4:8], "little") for path in compiled} == {0b01}
    assert (
        b"/var/task/sluice_shared/contract.py"
        in (asset / "sluice_shared/__pycache__/contract.cpython-313.pyc").read_bytes()
    )


def test_unchanged_sources_reuse_the_previous_build(x86_assets: dict[str, BuildResult], toolchain: Toolchain) -> None:
    out_dir = x86_assets["consumer"].path.parent.parent

    again = ensure_built(Architecture.X86_64, root=ROOT, out_dir=out_dir, toolchain=toolchain)

    assert {name: result.reused for name, result in again.items()} == {"consumer": True, "ingest": True}
    assert {name: result.fingerprint for name, result in again.items()} == {
        name: result.fingerprint for name, result in x86_assets.items()
    }


def test_arm64_asset_ships_aarch64_wheels_of_the_locked_psycopg(tmp_path: Path, toolchain: Toolchain) -> None:
    (consumer,) = FUNCTIONS[:1]

    result = ensure_built(Architecture.ARM64, root=ROOT, out_dir=tmp_path, toolchain=toolchain, functions=[consumer])

    asset = result["consumer"].path
    assert _machines(asset) == {EM_AARCH64}
    (binary,) = asset.glob("psycopg_binary-*.dist-info")
    (driver,) = asset.glob("psycopg-*.dist-info")
    # psycopg-binary 3.3 has only manylinux_2_28 aarch64 wheels: a wrong platform tag falls back to 3.2.
    assert binary.name.removeprefix("psycopg_binary-") == driver.name.removeprefix("psycopg-")
    assert "manylinux_2_28_aarch64" in (binary / "WHEEL").read_text()


@pytest.fixture(scope="module")
def import_graphs(x86_assets: dict[str, BuildResult], toolchain: Toolchain) -> dict[str, import_graph.ImportGraph]:
    """What each asset's own packages can import, as the builder's pruning proof reads it."""
    return {name: scan_imports(result.path, SPECS[name], toolchain) for name, result in x86_assets.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class LambdaRunner:
    """Runs a handler from an x86_64 asset in a fresh Lambda-like interpreter (see lambda_child.py)."""

    toolchain: Toolchain
    assets: dict[str, BuildResult]
    graphs: dict[str, import_graph.ImportGraph]
    runtime_sdk: Path
    workdir: Path

    def run(
        self, function: str, *, event: dict[str, Any] | None, environment: dict[str, str], conninfo: bool = False
    ) -> dict[str, Any]:
        """Import ``sluice_<function>.handler``, call it with ``event`` (``None``: import only); return the report."""
        asset = self.assets[function].path
        event_file = self.workdir / "event.json"
        event_file.write_text(json.dumps(event))
        report_file = self.workdir / "report.json"
        lambda_environment = {
            "PATH": os.environ["PATH"],
            **FAKE_CREDENTIALS,
            # Set by Lambda; Powertools enables its Tracer only when LAMBDA_TASK_ROOT is set.
            "LAMBDA_TASK_ROOT": str(asset),
            "AWS_LAMBDA_FUNCTION_NAME": "sluice-asset-smoke",
            "_X_AMZN_TRACE_ID": TRACE_ID,
            **environment,
        }
        handler = f"sluice_{function}.handler.lambda_handler"
        args = [str(CHILD), str(asset), str(self.runtime_sdk), handler, str(event_file) if event else "-"]
        completed = subprocess.run(
            [self.toolchain.python, "-I", "-S", "-B", *args, str(report_file), *(["--conninfo"] if conninfo else [])],
            env=lambda_environment,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr[-4000:]
        report: dict[str, Any] = json.loads(report_file.read_text())
        return report

    def not_reachable(self, function: str, loaded: list[str]) -> set[str]:
        """The modules of ``loaded`` that the static import graph of the function's asset does not reach."""
        return set(loaded) - set(self.graphs[function].reachable)


@pytest.fixture
def lambda_runner(
    x86_assets: dict[str, BuildResult],
    import_graphs: dict[str, import_graph.ImportGraph],
    runtime_sdk: Path,
    toolchain: Toolchain,
    tmp_path: Path,
) -> LambdaRunner:
    return LambdaRunner(
        toolchain=toolchain, assets=x86_assets, graphs=import_graphs, runtime_sdk=runtime_sdk, workdir=tmp_path
    )


@pytest.mark.parametrize("function", ["consumer", "ingest"])
def test_pruned_modules_are_gone_and_no_module_the_function_can_import_needs_them(
    function: str, x86_assets: dict[str, BuildResult], import_graphs: dict[str, import_graph.ImportGraph]
) -> None:
    asset, spec, graph = x86_assets[function].path, SPECS[function], import_graphs[function]

    modules = import_graph.module_index(asset)
    left = [rule.module for rule in spec.prune if any(f"{name}.".startswith(f"{rule.module}.") for name in modules)]
    unloaded = [path.name for path in asset.rglob("*") if path.suffix in UNLOADED_SUFFIXES]
    stubs = [path.name for path in asset.iterdir() if path.name.endswith("-stubs")]

    assert left == []
    assert unloaded == []
    assert stubs == []
    # Every module the own packages reach is in the asset by construction of the graph; the only references to
    # pruned modules are the acknowledged dead imports (check_pruned_imports raises on any other).
    check_pruned_imports(spec, graph.pruned_imports)
    assert {ref.target for ref in graph.pruned_imports} == {"aws_lambda_powertools.event_handler"}
    assert x86_assets[function].pruned.files > 0


def test_consumer_asset_stores_a_batch_with_secret_credentials_tracing_and_dead_letters(
    lambda_runner: LambdaRunner, migrated_database_url: str, sqs_endpoint: str, sqs_client: SQSClient, unique_name: str
) -> None:
    import boto3  # noqa: PLC0415 - the test environment's own SDK, only to create the secret

    # given: the database credentials in a Secrets Manager secret (as RDS writes them), a DLQ, tracing on
    server = conninfo_to_dict(migrated_database_url)
    secret = {
        "username": server.get("user") or "postgres",
        "password": server.get("password") or "ignored-by-trust-auth",  # the consumer refuses an empty password
        "host": server.get("host") or "127.0.0.1",
        "port": int(server.get("port") or 5432),
        "dbname": server["dbname"],
    }
    secrets = boto3.client("secretsmanager", endpoint_url=sqs_endpoint)
    secret_arn = secrets.create_secret(Name=unique_name, SecretString=json.dumps(secret))["ARN"]
    dlq_url = sqs_client.create_queue(QueueName=unique_name)["QueueUrl"]
    stored = [str(uuid.uuid4()), str(uuid.uuid4())]
    event = sqs_event([event_body(event_id=stored[0]), "not json", event_body(event_id=stored[1])])

    # when
    report = lambda_runner.run(
        "consumer",
        event=event,
        environment={
            "AWS_ENDPOINT_URL": sqs_endpoint,
            env.DB_SECRET_ARN: secret_arn,
            env.DB_SSLMODE: str(server.get("sslmode") or "disable"),
            env.DLQ_URL: dlq_url,
            env.TRACING: "true",
        },
    )

    # then
    assert report["response"] == {"batchItemFailures": []}
    with psycopg.connect(migrated_database_url) as db:
        assert db.execute(COUNT_EVENTS).fetchone() == (2,)
    [letter] = receive_all(sqs_client, dlq_url, expected=1)
    assert letter["Body"] == "not json"
    assert {"secretsmanager", "sqs", "consume_batch"} <= set(report["segments"])  # X-Ray patched boto3 and traced
    assert lambda_runner.not_reachable("consumer", report["loaded"]) == set()


def test_consumer_asset_signs_an_rds_iam_token_as_the_database_password(lambda_runner: LambdaRunner) -> None:
    report = lambda_runner.run(
        "consumer",
        event=None,
        environment={
            env.DB_IAM_AUTH: "true",
            env.DB_HOST: "proxy.example.com",
            env.DB_USER: "sluice_app",
            env.DB_NAME: "sluice",
        },
        conninfo=True,
    )

    conninfo = report["conninfo"]
    assert conninfo["password"].startswith("proxy.example.com:5432/?Action=connect&DBUser=sluice_app&")
    assert "&X-Amz-Signature=" in conninfo["password"]
    assert (conninfo["user"], conninfo["sslmode"]) == ("sluice_app", "verify-full")
    certs = lambda_runner.assets["consumer"].path / "sluice_consumer" / "certs"
    assert Path(conninfo["sslrootcert"]).parent == certs  # the package data is shipped
    assert lambda_runner.not_reachable("consumer", report["loaded"]) == set()


def test_ingest_asset_queues_a_function_url_request_with_tracing_on(
    lambda_runner: LambdaRunner, sqs_endpoint: str, sqs_client: SQSClient, unique_name: str
) -> None:
    queue_url = sqs_client.create_queue(QueueName=unique_name)["QueueUrl"]
    sent = event_dict()
    request = load_event("function_url_post_events")
    request["body"] = json.dumps([sent])

    report = lambda_runner.run(
        "ingest",
        event=request,
        environment={"AWS_ENDPOINT_URL": sqs_endpoint, env.QUEUE_URL: queue_url, env.TRACING: "true"},
    )

    assert report["response"]["statusCode"] == 202
    assert json.loads(report["response"]["body"])["queued"] == 1
    [message] = receive_all(sqs_client, queue_url, expected=1)
    assert json.loads(message["Body"])["event_id"] == sent["event_id"]
    assert lambda_runner.not_reachable("ingest", report["loaded"]) == set()
