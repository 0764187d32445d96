from __future__ import annotations

import subprocess
import sys
import textwrap

from sluice_shared.observability import REDACTED, redact, subsegment

# A fresh interpreter shows what a cold start really imports.
_IMPORTS_AFTER_A_SUBSEGMENT = textwrap.dedent(
    """
    import sys
    from sluice_shared.observability import subsegment
    with subsegment("work", service="test", enabled={enabled}):
        pass
    # Powertools' package imports its (cheap) tracer module; the X-Ray SDK behind it is the cost.
    print(sorted(m for m in ("aws_xray_sdk", "aws_xray_sdk.core") if m in sys.modules))
    """
)


def _modules_imported(*, enabled: bool) -> str:
    code = _IMPORTS_AFTER_A_SUBSEGMENT.format(enabled=enabled)
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def test_tracing_off_never_imports_the_xray_sdk() -> None:
    assert _modules_imported(enabled=False) == "[]"


def test_tracing_on_imports_the_tracer_and_traces_without_failing_outside_lambda() -> None:
    assert _modules_imported(enabled=True) == "['aws_xray_sdk', 'aws_xray_sdk.core']"


def test_disabled_subsegment_is_a_no_op_context() -> None:
    with subsegment("work", service="test", enabled=False) as value:
        assert value is None


def test_redact_masks_named_fields_at_any_depth_and_leaves_the_input_alone() -> None:
    payload = {"email": "a@b.c", "lines": [{"card": "4111", "sku": "x"}], "note": "keep"}

    masked = redact(payload, {"email", "card"})

    assert masked == {"email": REDACTED, "lines": [{"card": REDACTED, "sku": "x"}], "note": "keep"}
    assert payload["email"] == "a@b.c"
