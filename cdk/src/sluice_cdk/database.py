"""RDS PostgreSQL in the private subnets, its generated secret, and RDS Proxy in front of it (TLS required).

Reachability is a chain: clients -> proxy security group (5432) -> instance security group (5432 from the proxy
only, plus the rotation functions when rotation is on). Neither is public; nothing else reaches 5432.

Two database users. The schema owner (the RDS master user, ``DatabaseConfig.username``) is what the migrations
function connects as. The consumer connects as ``sluice_writer`` (INSERT and SELECT on ``events``, created by
migration ``0003_writer_role``) and never gets the owner's credentials.

How RDS Proxy reaches PostgreSQL as each user:

``DatabaseAuth.IAM`` (both stages). Clients authenticate to the proxy with IAM tokens. The owner's secret stays
attached to the proxy (``Auth``: SECRETS, IAMAuth REQUIRED): the master user keeps its password, which its
rotation and break-glass access need, and a member of ``rds_iam`` could only log in with IAM. The writer has no
secret at all: ``DefaultAuthScheme: IAM_AUTH`` makes the proxy log in to the instance as ``sluice_writer`` with
IAM too (end-to-end IAM), so the instance has IAM database authentication on, the proxy's role may
``rds-db:connect`` to the instance as ``sluice_writer``, and migration ``0003`` makes the writer a member of
``rds_iam``. No writer password exists anywhere: nothing to rotate, leak or set.

``DatabaseAuth.SECRET``. Clients log in to the proxy with passwords, so each user has a secret attached to the
proxy: the owner's, and the writer's own generated secret (``writer_secret``), rotated like the owner's when
rotation is on. The migrations function reads the writer's secret and sets that password (and takes the
writer out of ``rds_iam``: RDS allows its members IAM logins only). The consumer may read the writer's secret
and no other.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import ArnFormat, CfnResource, Duration, Names, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from sluice_cdk.config import DatabaseAuth, DatabaseConfig
from sluice_cdk.lambdas import log_retention
from sluice_shared import environment as env
from sluice_shared.roles import WRITER_ROLE

__all__ = ["POSTGRES_PORT", "POSTGRES_VERSION", "Database"]

# A current minor of PostgreSQL 17 (supported by RDS Proxy); auto minor upgrades keep the instance current.
# Not the bare major "17": cfn-lint lists it, like 17.1-17.4 and 16.4, as deprecated for new instances.
POSTGRES_VERSION: Final = rds.PostgresEngineVersion.VER_17_9
POSTGRES_PORT: Final = 5432  # RDS Proxy listens on the engine's default port, whatever the instance uses
# Idle client connections (a frozen Lambda environment's) are closed after this; the consumer's pool checks
# a connection before use and reconnects.
PROXY_IDLE_CLIENT_TIMEOUT: Final = Duration.minutes(30)
# Clients verify the proxy's certificate (Amazon Trust Services roots ship inside the consumer).
CLIENT_SSLMODE: Final = "verify-full"
# Characters RDS refuses in a master password, kept out of every generated password (rds.DatabaseSecret's own).
PASSWORD_EXCLUDED_CHARACTERS: Final = " %+~`#$&*()|[]{}:;<>?!'/@\"\\"  # noqa: S105 - characters, not a password
# A rotation function is a SAR application's Lambda named by CDK; its log group is /aws/lambda/<name>.
_LAMBDA_LOG_GROUP_PREFIX: Final = "/aws/lambda/"
_LAMBDA_NAME_MAX: Final = 64
SAR_APPLICATION: Final = "AWS::Serverless::Application"


class Database(Construct):
    """The instance, the owner's secret, the proxy; helpers to let a client in and to grant it a user."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        config: DatabaseConfig,
        removal_policy: RemovalPolicy,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config.validate()
        self._removal_policy = removal_policy
        self._log_retention_days = log_retention_days
        iam_mode = config.auth is DatabaseAuth.IAM
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
            # End-to-end IAM: RDS Proxy logs in to the instance as sluice_writer with an IAM token.
            iam_authentication=iam_mode,
            removal_policy=RemovalPolicy.SNAPSHOT if removal_policy is RemovalPolicy.RETAIN else removal_policy,
        )
        # The owner's secret as attached to the instance (it then also holds host, port and engine).
        self.secret: secretsmanager.ISecret = self.instance.secret or self.generated_secret
        # Secrets Manager mode only: the writer's own password, which the migrations function sets.
        self.writer_secret: secretsmanager.ISecret | None = None
        self.generated_writer_secret: rds.DatabaseSecret | None = None
        if not iam_mode:
            self.generated_writer_secret = rds.DatabaseSecret(self, "WriterSecret", username=WRITER_ROLE)
            self.generated_writer_secret.apply_removal_policy(removal_policy)
            self.writer_secret = self.generated_writer_secret.attach(self.instance)
        self.proxy_role = iam.Role(
            self,
            "ProxyRole",
            assumed_by=iam.ServicePrincipal("rds.amazonaws.com"),
            description="Sluice RDS Proxy: reads the users' secrets, connects to the instance as sluice_writer (IAM)",
        )
        if iam_mode:
            self.proxy_role.add_to_policy(
                iam.PolicyStatement(actions=["rds-db:connect"], resources=[self._instance_user_arn(WRITER_ROLE)])
            )
        self.proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            proxy_target=rds.ProxyTarget.from_instance(self.instance),
            secrets=[self.secret] if self.writer_secret is None else [self.secret, self.writer_secret],
            role=self.proxy_role,
            default_auth_scheme=rds.DefaultAuthScheme.IAM_AUTH if iam_mode else rds.DefaultAuthScheme.NONE,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.proxy_security_group],
            require_tls=True,
            iam_auth=iam_mode,
            max_connections_percent=config.proxy_max_connections_percent,
            borrow_timeout=Duration.seconds(config.proxy_borrow_timeout_seconds),
            idle_client_timeout=PROXY_IDLE_CLIENT_TIMEOUT,
        )
        self.instance.connections.allow_default_port_from(self.proxy_security_group, "RDS Proxy")
        self.rotations: list[secretsmanager.SecretRotation] = []
        if config.rotation_days is not None:
            # Single-user rotation: each user changes its own password; the proxy re-reads the secret, and
            # secret-mode clients re-read it when the server refuses the cached one.
            every = Duration.days(config.rotation_days)
            self.rotations.append(self.instance.add_rotation_single_user(automatically_after=every))
            if self.writer_secret is not None:
                self.rotations.append(
                    secretsmanager.SecretRotation(
                        self,
                        "WriterRotation",
                        application=secretsmanager.SecretRotationApplication.POSTGRES_ROTATION_SINGLE_USER,
                        secret=self.writer_secret,
                        target=self.instance,
                        vpc=vpc,
                        vpc_subnets=subnets,
                        automatically_after=every,
                        exclude_characters=PASSWORD_EXCLUDED_CHARACTERS,
                    )
                )
        for rotation in self.rotations:
            self._rotation_logs(rotation)

    def _instance_user_arn(self, user: str) -> str:
        """``arn:...:rds-db:<region>:<account>:dbuser:<instance resource id>/<user>``: IAM login to the instance."""
        return Stack.of(self).format_arn(
            service="rds-db",
            resource="dbuser",
            resource_name=f"{self.instance.instance_resource_id}/{user}",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _rotation_logs(self, rotation: secretsmanager.SecretRotation) -> None:
        """A log group with the stage's retention for the rotation function, created before the function is."""
        unique_id = Names.unique_id(rotation)
        function_name = unique_id[-_LAMBDA_NAME_MAX:]  # how SecretRotation names the function it deploys
        group = logs.LogGroup(
            rotation,
            "Logs",
            log_group_name=f"{_LAMBDA_LOG_GROUP_PREFIX}{function_name}",
            retention=log_retention(self._log_retention_days),
            removal_policy=self._removal_policy,
        )
        for child in rotation.node.children:
            if isinstance(child, CfnResource) and child.cfn_resource_type == SAR_APPLICATION:
                child.node.add_dependency(group)  # else the function's first log line creates the group first

    def allow_client(self, client: ec2.IConnectable, description: str) -> None:
        """Open the proxy's port to ``client`` (and the client's egress to it)."""
        self.proxy.connections.allow_from(client, ec2.Port.tcp(POSTGRES_PORT), description)

    def grant_owner(self, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` (the migrations function) log in as the schema owner and set the writer's password."""
        if self.writer_secret is None:
            self.proxy.grant_connect(grantee, self.config.username)
        else:
            self.secret.grant_read(grantee)
            self.writer_secret.grant_read(grantee)

    def grant_writer(self, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` (the consumer) log in as ``sluice_writer``, and as no one else."""
        if self.writer_secret is None:
            self.proxy.grant_connect(grantee, WRITER_ROLE)
        else:
            self.writer_secret.grant_read(grantee)

    def owner_environment(self) -> dict[str, str]:
        """The migrations function's variables: the proxy, the owner, and (secret mode) both users' secrets."""
        variables = self._environment(self.config.username)
        if self.writer_secret is not None:
            # A configured secret wins over IAM in the settings.
            variables[env.DB_SECRET_ARN] = self.secret.secret_arn
            variables[env.DB_WRITER_SECRET_ARN] = self.writer_secret.secret_arn
        return variables

    def writer_environment(self) -> dict[str, str]:
        """The consumer's variables: the proxy, ``sluice_writer``, and (secret mode) the writer's secret only."""
        variables = self._environment(WRITER_ROLE)
        if self.writer_secret is not None:
            variables[env.DB_SECRET_ARN] = self.writer_secret.secret_arn
        return variables

    def _environment(self, user: str) -> dict[str, str]:
        return {
            env.DB_HOST: self.proxy.endpoint,
            env.DB_PORT: str(POSTGRES_PORT),
            env.DB_NAME: self.config.database_name,
            env.DB_USER: user,
            env.DB_SSLMODE: CLIENT_SSLMODE,
            env.DB_IAM_AUTH: str(self.writer_secret is None).lower(),
        }
