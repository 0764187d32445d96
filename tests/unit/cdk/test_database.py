"""Database + proxy: private and encrypted, TLS required, IAM or secret auth, 5432 only along the chain."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from sluice_cdk.config import STAGES, DatabaseAuth, DatabaseConfig
from sluice_cdk.database import Database
from sluice_shared import environment as env
from tests.unit.cdk.helpers import empty_stack, logical_id


@dataclasses.dataclass(frozen=True)
class Built:
    template: Template
    environment: dict[str, Any]
    ids: dict[str, str]


def _build(config: DatabaseConfig, removal_policy: RemovalPolicy = RemovalPolicy.DESTROY) -> Built:
    stack = empty_stack()
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )
    database = Database(
        stack,
        "Database",
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        config=config,
        removal_policy=removal_policy,
    )
    client = ec2.SecurityGroup(stack, "Client", vpc=vpc, allow_all_outbound=False)
    role = iam.Role(stack, "ClientRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    database.allow_client(client, "a client")
    database.grant_client(role)
    ids = {
        "client": logical_id(stack, client),
        "proxy": logical_id(stack, database.proxy),
        "proxy_sg": logical_id(stack, database.proxy_security_group),
        "instance_sg": logical_id(stack, database.instance_security_group),
        "role": logical_id(stack, role),
    }
    return Built(Template.from_stack(stack), stack.resolve(database.client_environment()), ids)


@pytest.fixture(scope="module")
def iam_mode() -> Built:
    return _build(STAGES["dev"].database)


@pytest.fixture(scope="module")
def secret_mode() -> Built:
    return _build(dataclasses.replace(STAGES["dev"].database, auth=DatabaseAuth.SECRET))


@pytest.fixture(scope="module")
def prod() -> Built:
    return _build(STAGES["prod"].database, RemovalPolicy.RETAIN)


def _ingress(built: Built, group: str) -> list[dict[str, Any]]:
    rules = built.template.find_resources(
        "AWS::EC2::SecurityGroupIngress", {"Properties": {"GroupId": {"Fn::GetAtt": [group, "GroupId"]}}}
    )
    return [rule["Properties"] for rule in rules.values()]


def _policy_statements(built: Built) -> list[dict[str, Any]]:
    policies = built.template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": built.ids["role"]}]}}
    )
    return [
        statement for policy in policies.values() for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_instance_is_private_encrypted_autoscaled_and_current(iam_mode: Built) -> None:
    iam_mode.template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "EngineVersion": "17.9",
            "DBInstanceClass": "db.t4g.micro",
            "PubliclyAccessible": False,
            "StorageEncrypted": True,
            "AllocatedStorage": "20",
            "MaxAllocatedStorage": 100,
            "MasterUsername": "sluice",
            # The password only ever appears as a dynamic reference to the generated secret.
            "MasterUserPassword": {
                "Fn::Join": ["", ["{{resolve:secretsmanager:", Match.any_value(), ":SecretString:password::}}"]]
            },
            "DBName": "sluice",
        },
    )


def test_max_connections_is_pinned_and_tls_forced(iam_mode: Built) -> None:
    iam_mode.template.has_resource_properties(
        "AWS::RDS::DBParameterGroup",
        {"Family": "postgres17", "Parameters": {"max_connections": "80", "rds.force_ssl": "1"}},
    )


def test_proxy_requires_tls_and_iam_auth_and_keeps_a_tenth_free(iam_mode: Built) -> None:
    iam_mode.template.has_resource_properties(
        "AWS::RDS::DBProxy",
        {
            "EngineFamily": "POSTGRESQL",
            "RequireTLS": True,
            "Auth": [{"AuthScheme": "SECRETS", "IAMAuth": "REQUIRED", "SecretArn": Match.any_value()}],
        },
    )
    iam_mode.template.has_resource_properties(
        "AWS::RDS::DBProxyTargetGroup",
        {"ConnectionPoolConfigurationInfo": Match.object_like({"MaxConnectionsPercent": 90})},
    )


def test_instance_admits_5432_only_from_the_proxy(iam_mode: Built) -> None:
    (rule,) = _ingress(iam_mode, iam_mode.ids["instance_sg"])

    assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": [iam_mode.ids["proxy_sg"], "GroupId"]}
    assert rule["IpProtocol"] == "tcp"


def test_proxy_admits_5432_only_from_allowed_clients(iam_mode: Built) -> None:
    assert [
        (r["SourceSecurityGroupId"], r["FromPort"], r["ToPort"]) for r in _ingress(iam_mode, iam_mode.ids["proxy_sg"])
    ] == [({"Fn::GetAtt": [iam_mode.ids["client"], "GroupId"]}, 5432, 5432)]


def test_iam_client_may_connect_as_its_own_user_on_this_proxy_only(iam_mode: Built) -> None:
    (statement,) = _policy_statements(iam_mode)

    assert statement["Action"] == "rds-db:connect"
    assert statement["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":rds-db:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":dbuser:",
                {"Fn::Select": [6, {"Fn::Split": [":", {"Fn::GetAtt": [iam_mode.ids["proxy"], "DBProxyArn"]}]}]},
                "/sluice",
            ],
        ]
    }


def test_iam_client_environment_names_the_proxy_and_no_secret(iam_mode: Built) -> None:
    assert iam_mode.environment == {
        env.DB_HOST: {"Fn::GetAtt": [iam_mode.ids["proxy"], "Endpoint"]},
        env.DB_PORT: "5432",
        env.DB_NAME: "sluice",
        env.DB_USER: "sluice",
        env.DB_SSLMODE: "verify-full",
        env.DB_IAM_AUTH: "true",
    }


def test_secret_mode_grants_read_on_the_secret_and_no_iam_connect(secret_mode: Built) -> None:
    (statement,) = _policy_statements(secret_mode)

    assert statement["Action"] == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    assert secret_mode.environment[env.DB_SECRET_ARN] == statement["Resource"]
    assert secret_mode.environment[env.DB_IAM_AUTH] == "false"
    secret_mode.template.has_resource_properties(
        "AWS::RDS::DBProxy", {"RequireTLS": True, "Auth": [Match.object_like({"IAMAuth": "DISABLED"})]}
    )


def test_prod_is_multi_az_protected_rotated_and_snapshotted(prod: Built) -> None:
    prod.template.has_resource(
        "AWS::RDS::DBInstance",
        {
            "Properties": Match.object_like({"MultiAZ": True, "DeletionProtection": True, "BackupRetentionPeriod": 14}),
            "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
        },
    )
    prod.template.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule", {"RotationRules": {"ScheduleExpression": "rate(30 days)"}}
    )
    sources = {str(rule["SourceSecurityGroupId"]) for rule in _ingress(prod, prod.ids["instance_sg"])}
    assert len(sources) == 2  # the proxy and the rotation function
    assert str({"Fn::GetAtt": [prod.ids["proxy_sg"], "GroupId"]}) in sources
