"""Database + proxy: private and encrypted, TLS required, IAM or secret auth, 5432 only along the chain."""

from __future__ import annotations

import dataclasses
import json
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
    owner_environment: dict[str, Any]
    writer_environment: dict[str, Any]
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
        log_retention_days=14,
    )
    client = ec2.SecurityGroup(stack, "Client", vpc=vpc, allow_all_outbound=False)
    owner = iam.Role(stack, "OwnerRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    writer = iam.Role(stack, "WriterRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    database.allow_client(client, "a client")
    database.grant_owner(owner)
    database.grant_writer(writer)
    ids = {
        "client": logical_id(stack, client),
        "proxy": logical_id(stack, database.proxy),
        "proxy_sg": logical_id(stack, database.proxy_security_group),
        "instance_sg": logical_id(stack, database.instance_security_group),
        "instance": logical_id(stack, database.instance),
        "proxy_role": logical_id(stack, database.proxy_role),
        "owner": logical_id(stack, owner),
        "writer": logical_id(stack, writer),
    }
    return Built(
        Template.from_stack(stack),
        stack.resolve(database.owner_environment()),
        stack.resolve(database.writer_environment()),
        ids,
    )


@pytest.fixture(scope="module")
def iam_mode() -> Built:
    return _build(STAGES["dev"].database)


@pytest.fixture(scope="module")
def secret_mode() -> Built:
    return _build(dataclasses.replace(STAGES["prod"].database, auth=DatabaseAuth.SECRET), RemovalPolicy.RETAIN)


@pytest.fixture(scope="module")
def prod() -> Built:
    return _build(STAGES["prod"].database, RemovalPolicy.RETAIN)


def _ingress(built: Built, group: str) -> list[dict[str, Any]]:
    rules = built.template.find_resources(
        "AWS::EC2::SecurityGroupIngress", {"Properties": {"GroupId": {"Fn::GetAtt": [group, "GroupId"]}}}
    )
    return [rule["Properties"] for rule in rules.values()]


def _policy_statements(built: Built, role: str) -> list[dict[str, Any]]:
    policies = built.template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": built.ids[role]}]}})
    return [
        statement for policy in policies.values() for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _secrets(built: Built) -> dict[str, str]:
    """Generated secret logical id by username."""
    secrets = built.template.find_resources("AWS::SecretsManager::Secret")
    return {
        json.loads(secret["Properties"]["GenerateSecretString"]["SecretStringTemplate"])["username"]: name
        for name, secret in secrets.items()
    }


def _attachment(built: Built, secret: str) -> str:
    """The logical id of ``secret``'s attachment to the instance (what the proxy and the clients refer to)."""
    (name,) = built.template.find_resources(
        "AWS::SecretsManager::SecretTargetAttachment", {"Properties": {"SecretId": {"Ref": secret}}}
    )
    return name


def _proxy_user_arn(built: Built, user: str) -> dict[str, Any]:
    """arn:<partition>:rds-db:<region>:<account>:dbuser:<proxy resource id>/<user>"""
    proxy_id = {"Fn::Select": [6, {"Fn::Split": [":", {"Fn::GetAtt": [built.ids["proxy"], "DBProxyArn"]}]}]}
    return _dbuser_arn(proxy_id, user)


def _dbuser_arn(resource_id: dict[str, Any], user: str) -> dict[str, Any]:
    prefix = ["arn:", {"Ref": "AWS::Partition"}, ":rds-db:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}]
    return {"Fn::Join": ["", [*prefix, ":dbuser:", resource_id, f"/{user}"]]}


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


def test_proxy_requires_tls_and_keeps_a_tenth_free(iam_mode: Built) -> None:
    iam_mode.template.has_resource_properties("AWS::RDS::DBProxy", {"EngineFamily": "POSTGRESQL", "RequireTLS": True})
    iam_mode.template.has_resource_properties(
        "AWS::RDS::DBProxyTargetGroup",
        {
            "ConnectionPoolConfigurationInfo": Match.object_like(
                {"MaxConnectionsPercent": 90, "ConnectionBorrowTimeout": 30}
            )
        },
    )


def test_iam_mode_reaches_the_writer_end_to_end_with_iam_and_the_owner_with_its_secret(iam_mode: Built) -> None:
    owner_secret = _attachment(iam_mode, _secrets(iam_mode)["sluice"])

    # Only the owner has a secret; the proxy logs in as any other user (the writer) with IAM.
    assert list(_secrets(iam_mode)) == ["sluice"]
    iam_mode.template.has_resource_properties(
        "AWS::RDS::DBProxy",
        {
            "DefaultAuthScheme": "IAM_AUTH",
            "Auth": [{"AuthScheme": "SECRETS", "IAMAuth": "REQUIRED", "SecretArn": {"Ref": owner_secret}}],
            "RoleArn": {"Fn::GetAtt": [iam_mode.ids["proxy_role"], "Arn"]},
        },
    )
    iam_mode.template.has_resource_properties("AWS::RDS::DBInstance", {"EnableIAMDatabaseAuthentication": True})
    instance_id = {"Fn::GetAtt": [iam_mode.ids["instance"], "DbiResourceId"]}
    assert _policy_statements(iam_mode, "proxy_role") == [
        {"Action": "rds-db:connect", "Effect": "Allow", "Resource": _dbuser_arn(instance_id, "sluice_writer")},
        {
            "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            "Effect": "Allow",
            "Resource": {"Ref": owner_secret},
        },
    ]


def test_instance_admits_5432_only_from_the_proxy(iam_mode: Built) -> None:
    (rule,) = _ingress(iam_mode, iam_mode.ids["instance_sg"])

    assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": [iam_mode.ids["proxy_sg"], "GroupId"]}
    assert rule["IpProtocol"] == "tcp"


def test_proxy_admits_5432_only_from_allowed_clients(iam_mode: Built) -> None:
    assert [
        (r["SourceSecurityGroupId"], r["FromPort"], r["ToPort"]) for r in _ingress(iam_mode, iam_mode.ids["proxy_sg"])
    ] == [({"Fn::GetAtt": [iam_mode.ids["client"], "GroupId"]}, 5432, 5432)]


def test_iam_writer_may_connect_as_sluice_writer_and_the_owner_as_sluice_each_on_this_proxy_only(
    iam_mode: Built,
) -> None:
    assert _policy_statements(iam_mode, "writer") == [
        {"Action": "rds-db:connect", "Effect": "Allow", "Resource": _proxy_user_arn(iam_mode, "sluice_writer")}
    ]
    assert _policy_statements(iam_mode, "owner") == [
        {"Action": "rds-db:connect", "Effect": "Allow", "Resource": _proxy_user_arn(iam_mode, "sluice")}
    ]


def test_iam_environments_name_the_proxy_each_user_and_no_secret(iam_mode: Built) -> None:
    common = {
        env.DB_HOST: {"Fn::GetAtt": [iam_mode.ids["proxy"], "Endpoint"]},
        env.DB_PORT: "5432",
        env.DB_NAME: "sluice",
        env.DB_SSLMODE: "verify-full",
        env.DB_IAM_AUTH: "true",
    }

    assert iam_mode.writer_environment == {**common, env.DB_USER: "sluice_writer"}
    assert iam_mode.owner_environment == {**common, env.DB_USER: "sluice"}


def test_secret_mode_attaches_each_users_secret_to_the_proxy(secret_mode: Built) -> None:
    secrets = _secrets(secret_mode)
    owner, writer = _attachment(secret_mode, secrets["sluice"]), _attachment(secret_mode, secrets["sluice_writer"])

    secret_mode.template.has_resource_properties(
        "AWS::RDS::DBProxy",
        {
            "DefaultAuthScheme": "NONE",
            "Auth": [
                {"AuthScheme": "SECRETS", "IAMAuth": "DISABLED", "SecretArn": {"Ref": owner}},
                {"AuthScheme": "SECRETS", "IAMAuth": "DISABLED", "SecretArn": {"Ref": writer}},
            ],
        },
    )
    secret_mode.template.has_resource_properties("AWS::RDS::DBInstance", {"EnableIAMDatabaseAuthentication": False})
    assert {s["Action"] for s in _policy_statements(secret_mode, "proxy_role") if "rds-db" in str(s["Action"])} == set()


def test_secret_mode_writer_reads_only_its_own_secret_and_the_owner_both(secret_mode: Built) -> None:
    secrets = _secrets(secret_mode)
    owner, writer = _attachment(secret_mode, secrets["sluice"]), _attachment(secret_mode, secrets["sluice_writer"])
    read = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]

    assert _policy_statements(secret_mode, "writer") == [
        {"Action": read, "Effect": "Allow", "Resource": {"Ref": writer}}
    ]
    assert _policy_statements(secret_mode, "owner") == [
        {"Action": read, "Effect": "Allow", "Resource": [{"Ref": owner}, {"Ref": writer}]}
    ]
    assert secret_mode.writer_environment[env.DB_SECRET_ARN] == {"Ref": writer}
    assert secret_mode.writer_environment[env.DB_USER] == "sluice_writer"
    assert env.DB_WRITER_SECRET_ARN not in secret_mode.writer_environment
    assert secret_mode.owner_environment[env.DB_SECRET_ARN] == {"Ref": owner}
    assert secret_mode.owner_environment[env.DB_WRITER_SECRET_ARN] == {"Ref": writer}
    assert secret_mode.owner_environment[env.DB_IAM_AUTH] == "false"


def test_secret_mode_rotates_both_users_single_user_with_logs_kept_for_the_stage(secret_mode: Built) -> None:
    secrets = _secrets(secret_mode)
    schedules = secret_mode.template.find_resources("AWS::SecretsManager::RotationSchedule")
    rotated = {schedule["Properties"]["SecretId"]["Ref"] for schedule in schedules.values()}
    applications = secret_mode.template.find_resources("AWS::Serverless::Application")

    assert rotated == {_attachment(secret_mode, secrets[user]) for user in ("sluice", "sluice_writer")}
    assert len(applications) == 2
    mappings = secret_mode.template.to_json()["Mappings"]
    for application in applications.values():
        mapping = application["Properties"]["Location"]["ApplicationId"]["Fn::FindInMap"][0]
        assert mappings[mapping]["aws"]["applicationId"].endswith("/SecretsManagerRDSPostgreSQLRotationSingleUser")
        name = application["Properties"]["Parameters"]["functionName"]
        (group,) = secret_mode.template.find_resources(
            "AWS::Logs::LogGroup", {"Properties": {"LogGroupName": f"/aws/lambda/{name}", "RetentionInDays": 14}}
        )
        assert group in application["DependsOn"]


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
