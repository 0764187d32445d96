"""Where a queue lives, as its URL or ARN says: the region, and the endpoint when it is not AWS's.

An SQS queue URL names its region (``https://sqs.eu-west-1.amazonaws.com/123/q``) and an ARN does too
(``arn:aws:sqs:eu-west-1:123:q``). On an AWS host the region is all a client needs: botocore builds the
endpoint from it (the FIPS or dual-stack one when the URL's host is one of those). Any other host (the moto
server, LocalStack, ElasticMQ, a VPC endpoint's DNS name) is itself the endpoint the queue is served from.

AWS's DNS suffixes come from botocore's partition data (``amazonaws.com``, ``amazonaws.com.cn``, the GovCloud,
ISO and European Sovereign Cloud ones, and their dual-stack forms), so a new partition needs no change here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Final
from urllib.parse import urlsplit

__all__ = ["QueueAddress", "queue_address"]

_REGION: Final = r"[a-z]+(?:-[a-z]+)+-\d+"  # us-east-1, us-gov-west-1, cn-north-1, eusc-de-east-1
# The SQS host forms AWS serves, current and legacy, before the partition's DNS suffix:
#   sqs.<region>.  sqs-fips.<region>.  <region>.queue.  queue. (legacy us-east-1)
_AWS_HOST: Final = re.compile(
    rf"^(?:sqs(?P<fips>-fips)?\.(?P<region>{_REGION})|(?P<legacy>{_REGION})\.queue|queue)\.(?P<suffix>.+)$"
)
# A region in another host's name: LocalStack's sqs.<region>.localhost.localstack.cloud, <region>.queue.<domain>,
# or a VPC endpoint's vpce-<id>.sqs.<region>.vpce.amazonaws.com.
_REGION_IN_HOST: Final = re.compile(rf"(?:^|\.)(?:sqs(?:-fips)?\.(?P<region>{_REGION})|(?P<legacy>{_REGION})\.queue)\.")
_ARN: Final = re.compile(rf"^arn:[a-z-]+:[a-z0-9-]+:(?P<region>{_REGION})?:")  # arn:partition:service:region:
_LEGACY_US_EAST_1: Final = "us-east-1"  # https://queue.amazonaws.com/<account>/<name>


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueAddress:
    """What a queue reference says about where the queue lives; every field None/False when it says nothing."""

    region: str | None = None
    endpoint_url: str | None = None  # set only for a host that is not one of AWS's SQS hosts
    fips: bool = False
    dualstack: bool = False


def queue_address(queue: str | None) -> QueueAddress:
    """What ``queue`` (a queue URL, an ARN or a bare name) says about its region and endpoint.

    Any service's ARN gives its region (a secret's, for example). A bare name, an empty string or None says
    nothing. Never raises: a reference it cannot read says nothing
    either, and the SQS call reports what is wrong with it.
    """
    text = (queue or "").strip()
    arn = _ARN.match(text)
    if arn is not None:
        return QueueAddress(region=arn["region"])
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:  # an invalid port or IPv6 literal
        return QueueAddress()
    if parts.scheme not in {"http", "https"} or not host:
        return QueueAddress()
    aws = _AWS_HOST.match(host)
    if aws is not None and aws["suffix"] in _aws_dns_suffixes():
        return QueueAddress(
            region=aws["region"] or aws["legacy"] or _LEGACY_US_EAST_1,
            fips=aws["fips"] is not None,
            dualstack=aws["suffix"] in _aws_dns_suffixes(dualstack=True),
        )
    named = _REGION_IN_HOST.search(host)
    region = (named["region"] or named["legacy"]) if named is not None else None
    return QueueAddress(region=region, endpoint_url=f"{parts.scheme}://{parts.netloc}")


@cache
def _aws_dns_suffixes(*, dualstack: bool = False) -> frozenset[str]:
    """The DNS suffixes of every AWS partition botocore knows (only the dual-stack ones if ``dualstack``)."""
    from botocore.loaders import create_loader  # noqa: PLC0415 - botocore loads on first use only

    outputs = [partition["outputs"] for partition in create_loader().load_data("partitions")["partitions"]]
    dualstack_suffixes = {output["dualStackDnsSuffix"] for output in outputs}
    if dualstack:
        return frozenset(dualstack_suffixes)
    return frozenset({output["dnsSuffix"] for output in outputs} | dualstack_suffixes)
