"""The VPC in both network modes: endpoints without any route out, or NAT like the tutorial."""

from __future__ import annotations

import pytest
from aws_cdk import RemovalPolicy
from aws_cdk.assertions import Match, Template

from sluice_cdk.config import NetworkMode
from sluice_cdk.network import VPC_CIDR, Network
from tests.unit.cdk.helpers import empty_stack


def _template(mode: NetworkMode, *, tracing: bool = False) -> Template:
    stack = empty_stack()
    network = Network(
        stack,
        "Network",
        mode=mode,
        nat_gateways=1,
        flow_log_retention_days=14,
        removal_policy=RemovalPolicy.DESTROY,
        tracing=tracing,
    )
    network.placement.security_group(stack, "Client", description="a function reaching AWS APIs")
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def endpoints() -> Template:
    return _template(NetworkMode.ENDPOINTS)


@pytest.fixture(scope="module")
def nat() -> Template:
    return _template(NetworkMode.NAT)


def _https_from(cidr: str) -> list[dict[str, object]]:
    return [{"CidrIp": cidr, "FromPort": 443, "ToPort": 443, "IpProtocol": "tcp", "Description": Match.any_value()}]


def _service_names(template: Template) -> list[str]:
    names = []
    for endpoint in template.find_resources("AWS::EC2::VPCEndpoint").values():
        parts = endpoint["Properties"]["ServiceName"]["Fn::Join"][1]
        names.append(parts[-1].removeprefix("."))
        assert endpoint["Properties"]["PrivateDnsEnabled"] is True
        assert endpoint["Properties"]["VpcEndpointType"] == "Interface"
    return sorted(names)


def test_endpoint_mode_has_no_route_out_of_the_vpc(endpoints: Template) -> None:
    assert endpoints.find_resources("AWS::EC2::NatGateway") == {}
    assert endpoints.find_resources("AWS::EC2::InternetGateway") == {}
    assert endpoints.find_resources("AWS::EC2::Route") == {}
    subnets = endpoints.find_resources("AWS::EC2::Subnet")
    assert [subnet["Properties"]["MapPublicIpOnLaunch"] for subnet in subnets.values()] == [False, False]


def test_endpoint_mode_reaches_sqs_and_secrets_manager_privately(endpoints: Template) -> None:
    assert _service_names(endpoints) == ["secretsmanager", "sqs"]
    endpoints.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "Sluice interface endpoints: HTTPS from inside the VPC",
            "SecurityGroupIngress": _https_from(VPC_CIDR),
        },
    )


def test_endpoint_mode_clients_may_only_call_https_inside_the_vpc(endpoints: Template) -> None:
    endpoints.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "a function reaching AWS APIs",
            "SecurityGroupEgress": _https_from(VPC_CIDR),
        },
    )


def test_nat_mode_has_public_and_private_subnets_and_a_nat_gateway(nat: Template) -> None:
    nat.resource_count_is("AWS::EC2::NatGateway", 1)
    subnets = nat.find_resources("AWS::EC2::Subnet").values()
    assert sorted(subnet["Properties"]["MapPublicIpOnLaunch"] for subnet in subnets) == [False, False, True, True]
    nat.has_resource_properties(
        "AWS::EC2::Route",
        {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": {"Ref": Match.string_like_regexp("NATGateway")}},
    )
    assert nat.find_resources("AWS::EC2::VPCEndpoint") == {}


def test_nat_mode_clients_call_aws_apis_on_their_public_addresses(nat: Template) -> None:
    nat.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "a function reaching AWS APIs",
            "SecurityGroupEgress": _https_from("0.0.0.0/0"),
        },
    )


@pytest.mark.parametrize("mode", ["endpoints", "nat"])
def test_vpc_spans_two_azs_and_logs_its_flows(mode: str, request: pytest.FixtureRequest) -> None:
    template: Template = request.getfixturevalue(mode)

    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": VPC_CIDR})
    subnets = template.find_resources("AWS::EC2::Subnet").values()
    assert len({str(subnet["Properties"]["AvailabilityZone"]) for subnet in subnets}) == 2
    template.has_resource_properties(
        "AWS::EC2::FlowLog", {"ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"}
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 14})


def test_tracing_without_nat_sends_traces_through_an_xray_endpoint() -> None:
    assert _service_names(_template(NetworkMode.ENDPOINTS, tracing=True)) == ["secretsmanager", "sqs", "xray"]


def test_tracing_with_nat_needs_no_endpoint() -> None:
    assert _service_names(_template(NetworkMode.NAT, tracing=True)) == []
