"""RDS PostgreSQL in the private subnets, its generated secret, and RDS Proxy in front of it (TLS required).

Reachability is a chain: clients -> proxy security group (5432) -> instance security group (5432 from the proxy
only, plus the rotation function when rotation is on). Neither is public; nothing else reaches 5432.

Authentication. The proxy always logs in to PostgreSQL with the secret (it reads the secret itself).
``DatabaseAuth.IAM``: clients authenticate to the proxy with short-lived IAM tokens as the secret's user;
their role may ``rds-db:connect`` as that one user on this proxy and cannot read the secret.
``DatabaseAuth.SECRET``: clients read the password from Secrets Manager (they get the secret's ARN and read
permission, never the password itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from constructs import Construct

from sluice_cdk.config import DatabaseAuth, DatabaseConfig
from sluice_shared import environment as env

if TYPE_CHECKING:
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_secretsmanager as secretsmanager

__all__ = ["POSTGRES_PORT", "POSTGRES_VERSION", "Database"]

# A current minor of PostgreSQL 17 (supported by RDS Proxy); auto minor upgrades keep the instance current.
# Not the bare major "17": cfn-lint lists it, like 17.1-17.4 and 16.4, as deprecated for new instances.
POSTGRES_VERSION: Final = rds.PostgresEngineVersion.VER_17_9
POSTGRES_PORT: Final = 5432  # RDS Proxy listens on the engine's default port, whatever the instance uses
# The proxy waits this long for a free database connection before failing a client's request.
PROXY_BORROW_TIMEOUT: Final = Duration.seconds(30)
# Idle client connections (a frozen Lambda environment's) are closed after this; the consumer's pool checks
# a connection before use and reconnects.
PROXY_IDLE_CLIENT_TIMEOUT: Final = Duration.minutes(30)
# Clients verify the proxy's certificate (Amazon Trust Services roots ship inside the consumer).
CLIENT_SSLMODE: Final = "verify-full"


class Database(Construct):
    """The instance, its secret and the proxy; helpers to let a client in and to grant it authentication."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        config: DatabaseConfig,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config.validate()
        engine = rds.DatabaseInstanceEngine.postgres(version=POSTGRES_VERSION)
        self.parameter_group = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            description="Sluice: pinned max_connections (the proxy budget is derived from it), TLS only",
            parameters={"max_connections": str(config.max_connections), "rds.force_ssl": "1"},
        )
        self.instance_security_group = ec2.SecurityGroup(
            self,
            "InstanceSecurityGroup",
            vpc=vpc,
            description="Sluice PostgreSQL: 5432 from RDS Proxy only",
            allow_all_outbound=False,
        )
        # Outbound stays open: the proxy fetches its secret from Secrets Manager (through NAT or the endpoint).
        self.proxy_security_group = ec2.SecurityGroup(
            self, "ProxySecurityGroup", vpc=vpc, description="Sluice RDS Proxy: 5432 from Sluice functions only"
        )
        # Created here rather than by the instance, so it follows the stage's removal policy: a retained
        # snapshot is no use without the password it was taken with.
        self.generated_secret = rds.DatabaseSecret(self, "Secret", username=config.username)
        self.generated_secret.apply_removal_policy(removal_policy)
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            engine=engine,
            instance_type=ec2.InstanceType(config.instance_type),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.instance_security_group],
            publicly_accessible=False,
            credentials=rds.Credentials.from_secret(self.generated_secret, config.username),
            database_name=config.database_name,
            parameter_group=self.parameter_group,
            multi_az=config.multi_az,
            deletion_protection=config.deletion_protection,
            storage_encrypted=True,
            storage_type=rds.StorageType.GP3,
            allocated_storage=config.allocated_storage_gib,
            max_allocated_storage=config.max_allocated_storage_gib,
            backup_retention=Duration.days(config.backup_retention_days),
            auto_minor_version_upgrade=True,
            copy_tags_to_snapshot=True,
            removal_policy=RemovalPolicy.SNAPSHOT if removal_policy is RemovalPolicy.RETAIN else removal_policy,
        )
        # The secret as attached to the instance (it then also holds host, port and engine); always set here.
        self.secret: secretsmanager.ISecret = self.instance.secret or self.generated_secret
        self.proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            proxy_target=rds.ProxyTarget.from_instance(self.instance),
            secrets=[self.secret],
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.proxy_security_group],
            require_tls=True,
            iam_auth=config.auth is DatabaseAuth.IAM,
            max_connections_percent=config.proxy_max_connections_percent,
            borrow_timeout=PROXY_BORROW_TIMEOUT,
            idle_client_timeout=PROXY_IDLE_CLIENT_TIMEOUT,
        )
        self.instance.connections.allow_default_port_from(self.proxy_security_group, "RDS Proxy")
        if config.rotation_days is not None:
            # Single-user rotation: the proxy re-reads the secret; secret-mode clients re-read it on auth failure.
            self.rotation = self.instance.add_rotation_single_user(
                automatically_after=Duration.days(config.rotation_days)
            )

    def allow_client(self, client: ec2.IConnectable, description: str) -> None:
        """Open the proxy's port to ``client`` (and the client's egress to it)."""
        self.proxy.connections.allow_from(client, ec2.Port.tcp(POSTGRES_PORT), description)

    def grant_client(self, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` authenticate: ``rds-db:connect`` as the secret's user (IAM) or read the secret."""
        if self.config.auth is DatabaseAuth.IAM:
            self.proxy.grant_connect(grantee, self.config.username)
        else:
            self.secret.grant_read(grantee)

    def client_environment(self) -> dict[str, str]:
        """The variables a client function needs: the proxy endpoint, database, user and how to authenticate."""
        variables = {
            env.DB_HOST: self.proxy.endpoint,
            env.DB_PORT: str(POSTGRES_PORT),
            env.DB_NAME: self.config.database_name,
            env.DB_USER: self.config.username,
            env.DB_SSLMODE: CLIENT_SSLMODE,
            env.DB_IAM_AUTH: str(self.config.auth is DatabaseAuth.IAM).lower(),
        }
        if self.config.auth is DatabaseAuth.SECRET:
            # Only in secret mode: a configured secret wins over IAM in the consumer's settings.
            variables[env.DB_SECRET_ARN] = self.secret.secret_arn
        return variables
