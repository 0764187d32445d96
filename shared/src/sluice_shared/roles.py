"""The PostgreSQL roles of a Sluice database, named once for the migrations, the CLI and the CDK app.

The schema owner (the RDS master user in the deployed stack) applies the migrations. The consumer connects as
:data:`WRITER_ROLE`, which migration ``0003_writer_role`` creates with INSERT and SELECT on ``events`` and
nothing else, so a bug or an injected statement on the hot path cannot alter, drop, empty or rewrite the table.
"""

from __future__ import annotations

from typing import Final

__all__ = ["IAM_ROLE", "WRITER_ROLE"]

# The role migration 0003_writer_role.sql creates; the SQL names it literally, a test holds the two together.
WRITER_ROLE: Final = "sluice_writer"
# RDS for PostgreSQL's role for IAM database authentication: its members may log in with IAM tokens only.
IAM_ROLE: Final = "rds_iam"
