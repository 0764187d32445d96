from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

from sluice_shared.observability import REDACTED, redact, redact_field_errors, subsegment

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


def test_reasons_about_redacted_fields_and_the_summary_are_masked_for_logs() -> None:
    error: dict[str, Any] = {
        "code": "invalid_message",
        "message": "payload.card.number: 4111 fails the Luhn check (and 1 more)",
        "fields": [
            {"field": "payload.card.number", "reason": "4111 fails the Luhn check"},
            {"field": "payload.amount", "reason": "Input should be a valid integer"},
        ],
    }

    logged = redact_field_errors(error, {"number"})

    assert logged == {
        "code": "invalid_message",
        "message": REDACTED,
        "fields": [
            {"field": "payload.card.number", "reason": REDACTED},
            {"field": "payload.amount", "reason": "Input should be a valid integer"},
        ],
    }
    assert error["message"].startswith("payload.card.number: 4111")


def test_errors_about_other_fields_are_logged_as_they_are() -> None:
    error = {"code": "invalid_message", "message": "m", "fields": [{"field": "payload.amount", "reason": "r"}]}

    assert redact_field_errors(error, {"number"}) == error
    assert redact_field_errors(error, ()) == error
