"""The VPC: two AZs, private subnets for the database, the proxy and the functions, flow logs, and either NAT
gateways or interface endpoints for the AWS APIs the functions call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from sluice_cdk.config import NetworkMode
from sluice_cdk.lambdas import HTTPS_PORT, VpcPlacement, log_retention

if TYPE_CHECKING:
    from aws_cdk import RemovalPolicy

__all__ = ["ENDPOINT_SERVICES", "VPC_CIDR", "XRAY_ENDPOINT", "Network"]

VPC_CIDR: Final = "10.40.0.0/16"
AVAILABILITY_ZONES: Final = 2  # RDS subnet groups and RDS Proxy both need subnets in two AZs
# What the functions in the VPC call: SQS (the consumer dead-letters permanent failures) and Secrets Manager
# (secret-mode authentication, the rotation function). CloudWatch Logs and metrics leave through the Lambda
# service itself, and IAM auth tokens are signed locally, so neither needs an endpoint.
ENDPOINT_SERVICES: Final = {
    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
}
# With X-Ray tracing on, the functions' X-Ray daemon sends their segments from inside the VPC: without a NAT
# they leave only through this endpoint (else they are dropped and the traces show the Lambda service alone).
XRAY_ENDPOINT: Final = ("XRay", ec2.InterfaceVpcEndpointAwsService.XRAY)


class Network(Construct):
    """VPC, private subnets and the way out to AWS APIs.

    ``NAT``: public and private-with-egress subnets and ``nat_gateways`` NAT gateways (the tutorial's layout).
    ``ENDPOINTS``: isolated subnets only (no internet gateway, no route out) and one interface endpoint per
    service in :data:`ENDPOINT_SERVICES`, plus :data:`XRAY_ENDPOINT` when ``tracing`` is on.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        mode: NetworkMode,
        nat_gateways: int,
        flow_log_retention_days: int,
        removal_policy: RemovalPolicy,
        tracing: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        private_type = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS if mode is NetworkMode.NAT else ec2.SubnetType.PRIVATE_ISOLATED
        )
        subnets = [ec2.SubnetConfiguration(name="private", subnet_type=private_type, cidr_mask=22)]
        if mode is NetworkMode.NAT:
            subnets.insert(0, ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24))
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=AVAILABILITY_ZONES,
            nat_gateways=nat_gateways if mode is NetworkMode.NAT else 0,
            subnet_configuration=subnets,
            restrict_default_security_group=True,
        )
        self.private_subnets = ec2.SubnetSelection(subnet_type=private_type)
        # Where HTTPS calls to AWS APIs go: security groups see the final address, which through NAT is public.
        self.api_peer = ec2.Peer.any_ipv4() if mode is NetworkMode.NAT else ec2.Peer.ipv4(VPC_CIDR)
        self.placement = VpcPlacement(vpc=self.vpc, subnets=self.private_subnets, api_peer=self.api_peer)
        self.flow_log_group = logs.LogGroup(
            self, "FlowLogs", retention=log_retention(flow_log_retention_days), removal_policy=removal_policy
        )
        self.flow_log = self.vpc.add_flow_log(
            "FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group)
        )
        self.endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        if mode is NetworkMode.ENDPOINTS:
            self.endpoint_security_group = ec2.SecurityGroup(
                self,
                "EndpointSecurityGroup",
                vpc=self.vpc,
                description="Sluice interface endpoints: HTTPS from inside the VPC",
                allow_all_outbound=False,
            )
            self.endpoint_security_group.add_ingress_rule(
                ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(HTTPS_PORT), "HTTPS from the VPC"
            )
            services = {**ENDPOINT_SERVICES, **dict([XRAY_ENDPOINT] if tracing else [])}
            for name, service in services.items():
                self.endpoints[name] = self.vpc.add_interface_endpoint(
                    name,
                    service=service,
                    subnets=self.private_subnets,
                    private_dns_enabled=True,
                    open=False,
                    security_groups=[self.endpoint_security_group],
                )
