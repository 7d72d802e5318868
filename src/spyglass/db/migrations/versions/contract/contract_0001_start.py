"""Start of the contract branch: nothing to remove yet.

Contract revisions name the expand revision they follow in ``depends_on``, so that Alembic
never applies one before the expand revision that made it safe.

Revision ID: contract_0001
Revises:
Create Date: 2025-11-26
"""
from __future__ import annotations

from collections.abc import Sequence

revision: str = "contract_0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = ("contract",)
depends_on: Sequence[str] | None = ("expand_0001",)


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
