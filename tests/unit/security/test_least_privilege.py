"""Least privilege on the synthesized templates: no ``*`` resource or action where a specific one exists.

Every identity policy in every stage's template (IAM policies, roles' inline policies, managed policies), and the
dev stage in Secrets Manager mode, is read statement by statement. A resource containing ``*`` (after CloudFormation
intrinsics are spelled out) or an action ending in ``*`` fails the test unless it is acknowledged below with its
reason; AWS managed policies are allowed by name only, each with its reason. Every acknowledgement must still match
something, so the list cannot go stale. The per-grant details (send-only, scoped ``rds-db:connect``, one secret)
are tested in ``tests/unit/cdk/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from tests.unit.security.conftest import SECRET_MODE

if TYPE_CHECKING:
    from collections.abc import Iterator

IDENTITY_POLICY_TYPES: Final = frozenset({"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"})


@dataclass(frozen=True)
class Acknowledged:
    """A wildcard resource accepted on purpose: for exactly these actions, on resources matching ``resource``."""

    actions: frozenset[str]
    resource: re.Pattern[str]
    reason: str


_NETWORK_INTERFACES: Final = re.compile(
    r"^arn:\$\{AWS::Partition\}:ec2:\$\{AWS::Region\}:\$\{AWS::AccountId\}:network-interface/\*$"
)
WILDCARD_RESOURCES: Final = (
    Acknowledged(
        frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"}),
        re.compile(r"^\*$"),
        "X-Ray's write actions support no resource-level permissions (Service Authorization Reference, AWS X-Ray: "
        "resource types column empty); Lambda's active tracing needs them where a stage turns tracing on",
    ),
    Acknowledged(
        frozenset({"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}),
        re.compile(r"^\*$"),
        "EC2's Describe actions support no resource-level permissions; Lambda needs them to attach a function to "
        "its VPC subnets (Lambda developer guide: DescribeNetworkInterfaces works only on '*')",
    ),
    Acknowledged(
        frozenset(
            {
                "ec2:CreateNetworkInterface",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            }
        ),
        _NETWORK_INTERFACES,
        "the network interfaces Lambda creates for a function in a VPC have ids only once created: any interface "
        "of this account and region (CreateNetworkInterface is otherwise limited to the function's own subnets "
        "and security group)",
    ),
    Acknowledged(
        frozenset({"lambda:InvokeFunction"}),
        re.compile(r"^\$\{MigrationsFunction[0-9A-F]{8}\.Arn\}:\*$"),
        "CDK's triggers.Trigger provider invokes the one migrations function; ':*' covers that function's "
        "versions and aliases only (a qualified ARN), not any other function",
    ),
)
# None: AWSLambdaBasicExecutionRole would let a function create and write to any log group, and
# AWSLambdaVPCAccessExecutionRole create and delete network interfaces anywhere; each function's role (and each
# CDK provider's) gets the scoped statements above instead.
MANAGED_POLICIES: Final[dict[str, str]] = {}


@dataclass(frozen=True)
class Statement:
    """One Allow statement of one identity policy, resources spelled out as text."""

    template: str
    policy: str
    actions: frozenset[str]
    resources: tuple[str, ...]


def spelled(value: Any) -> str:
    """A CloudFormation value as text: ``Ref`` and ``Fn::GetAtt`` become ``${Name}``/``${Name.Attribute}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(spelled(item) for item in value)
    if isinstance(value, dict) and len(value) == 1:
        (function, argument), *_ = value.items()
        if function == "Ref":
            return f"${{{argument}}}"
        if function == "Fn::GetAtt":
            return f"${{{argument[0]}.{argument[1]}}}"
        if function == "Fn::Join":
            return str(argument[0]).join(spelled(part) for part in argument[1])
        if function == "Fn::Sub":
            return spelled(argument[0] if isinstance(argument, list) else argument)
        return f"${{{function}}}"  # Fn::Select, Fn::Split, ...: a computed value, never a literal '*'
    raise AssertionError(f"unexpected CloudFormation value {value!r}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(name: str, template: dict[str, Any]) -> Iterator[Statement]:
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents: list[Any] = []
        if resource["Type"] in IDENTITY_POLICY_TYPES:
            documents.append(properties["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            documents.extend(policy["PolicyDocument"] for policy in properties.get("Policies", []))
        for document in documents:
            for statement in document["Statement"]:
                if statement.get("Effect") != "Allow":
                    continue
                actions, resources = _as_list(statement["Action"]), _as_list(statement["Resource"])
                yield Statement(name, logical_id, frozenset(actions), tuple(spelled(item) for item in resources))


def managed_policy_names(template: dict[str, Any]) -> set[str]:
    names = set()
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Role":
            for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []):
                text = spelled(arn)
                assert ":iam::aws:policy/" in text, f"a customer managed policy is attached: {text}"
                names.add(text.rsplit("/", 1)[-1])
    return names


def _acknowledgements(statement: Statement, resource: str) -> set[Acknowledged] | None:
    """The acknowledgements covering every action of ``statement`` on ``resource``; None when one is not covered."""
    covering: set[Acknowledged] = set()
    for action in statement.actions:
        found = [a for a in WILDCARD_RESOURCES if action in a.actions and a.resource.match(resource)]
        if not found:
            return None
        covering.update(found)
    return covering


def test_no_policy_grants_a_wildcard_resource_unless_acknowledged(templates: dict[str, dict[str, Any]]) -> None:
    all_statements = [s for name, template in templates.items() for s in statements(name, template)]
    unacknowledged = [
        f"{s.template}: {s.policy} {sorted(s.actions)} on {resource}"
        for s in all_statements
        for resource in s.resources
        if "*" in resource and _acknowledgements(s, resource) is None
    ]

    assert len(all_statements) > 10  # the reader found the grants
    assert unacknowledged == []


def test_no_policy_grants_a_wildcard_action(templates: dict[str, dict[str, Any]]) -> None:
    wildcards = [
        f"{s.template}: {s.policy} {action}"
        for name, template in templates.items()
        for s in statements(name, template)
        for action in s.actions
        if "*" in action
    ]

    assert wildcards == []


def test_every_acknowledged_wildcard_is_still_needed(templates: dict[str, dict[str, Any]]) -> None:
    used = set().union(
        *(
            _acknowledgements(s, resource) or set()
            for name, template in templates.items()
            for s in statements(name, template)
            for resource in s.resources
            if "*" in resource
        )
    )

    assert set(WILDCARD_RESOURCES) <= used
    assert all(acknowledged.reason for acknowledged in WILDCARD_RESOURCES)


def test_only_the_acknowledged_aws_managed_policies_are_attached(templates: dict[str, dict[str, Any]]) -> None:
    attached = set().union(*(managed_policy_names(template) for template in templates.values()))

    assert attached == set(MANAGED_POLICIES)


def test_secret_mode_consumer_reads_only_the_writers_secret_and_iam_mode_none(
    templates: dict[str, dict[str, Any]],
) -> None:
    def secret_reads(name: str) -> set[tuple[str, tuple[str, ...]]]:
        return {
            (s.policy, s.resources)
            for s in statements(name, templates[name])
            if any(action.startswith("secretsmanager:") for action in s.actions) and "Proxy" not in s.policy
        }

    reads = {policy.split("Function")[0]: resources for policy, resources in secret_reads(SECRET_MODE)}
    owner, writer = "${DatabaseSecretAttachmentE5D1B020}", "${DatabaseWriterSecretAttachment65BA6045}"

    assert secret_reads("dev") == set()
    # The consumer reads the writer's own secret and nothing else; the migrations (the owner) set its password.
    assert reads == {"Consumer": (writer,), "Migrations": (owner, writer)}
