"""Call one Lambda handler the way Lambda's python3.13 runtime does, from a built asset; run by test_lambda_assets.

``python -I -S -B lambda_child.py ASSET RUNTIME_SDK MODULE.FUNCTION EVENT_FILE|- REPORT_FILE [--conninfo]``

The path is the asset, then the runtime's SDK (boto3 and its closure), then the standard library: nothing of the
test environment. A UDP socket stands in for the X-Ray daemon. The handler's module is imported by name and called
with the event (``-``: imported only). The report (JSON) holds the response, the names of the X-Ray (sub)segments
received, every module loaded from the asset and, with ``--conninfo``, the consumer's connection parameters
(what its credentials provider builds for a new connection: a fresh RDS IAM token as the password in IAM mode).
Standard output is left to the handler's logs.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys
import uuid
from pathlib import Path
from typing import Any, Final

XRAY_WAIT_S: Final = 0.5  # the SDK sends each subsegment as it ends; this only bounds the wait for the last one


class LambdaContext:
    """The attributes Powertools and the handlers read from Lambda's context object."""

    function_name = "sluice-asset-smoke"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sluice-asset-smoke"
    memory_limit_in_mb = 256
    log_group_name = "/aws/lambda/sluice-asset-smoke"
    log_stream_name = "smoke"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        """A generous budget: the smoke test is about imports, not deadlines."""
        return 60_000


def _segment_names(daemon: socket.socket) -> list[str]:
    names: list[str] = []
    while True:
        try:
            datagram = daemon.recv(65_536)
        except TimeoutError:
            return names
        _header, _, document = datagram.decode().partition("\n")  # {"format": "json", "version": 1}\n{segment}
        names.append(json.loads(document)["name"])


def main() -> None:
    """Run the handler and write the report."""
    asset, runtime, handler, event_file, report_file, *flags = sys.argv[1:]
    sys.path[:0] = [asset, runtime]
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(XRAY_WAIT_S)
    os.environ["AWS_XRAY_DAEMON_ADDRESS"] = f"127.0.0.1:{daemon.getsockname()[1]}"

    module_name, _, function_name = handler.rpartition(".")
    function = getattr(importlib.import_module(module_name), function_name)
    report: dict[str, Any] = {}
    if event_file != "-":
        report["response"] = function(json.loads(Path(event_file).read_text()), LambdaContext())
    if "--conninfo" in flags:
        from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415 - only the consumer's asset has psycopg

        from sluice_consumer import runtime as consumer  # noqa: PLC0415 - only the consumer's asset has it

        parameters = conninfo_to_dict(consumer.get_credentials().conninfo())
        report["conninfo"] = {key: str(value) for key, value in parameters.items()}
    if (consumer_runtime := sys.modules.get("sluice_consumer.runtime")) is not None:
        # Lambda freezes an environment instead of exiting it: close the pool so this interpreter need not wait
        # for the pool's threads at exit.
        consumer_runtime.configure()
    report["segments"] = _segment_names(daemon)
    report["loaded"] = sorted(
        name
        for name, module in list(sys.modules.items())
        if (getattr(module, "__file__", None) or "").startswith(asset + os.sep)
    )
    Path(report_file).write_text(json.dumps(report))


if __name__ == "__main__":
    main()
