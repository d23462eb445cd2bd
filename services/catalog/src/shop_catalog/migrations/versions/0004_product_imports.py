"""Durable product imports: the import jobs (status, counts, a worker's lease) and their lines (the
uploaded text, then each line's outcome), run by the catalog's import worker.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 16:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_imports",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("body_digest", sa.Text, nullable=False),
        sa.Column("started_by", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("lines_total", sa.BigInteger, nullable=False),
        sa.Column("lines_done", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("created", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("updated", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("unchanged", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("failed", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.Text, nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("request_id", name="product_imports_request_id_key"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="product_imports_status_known"
        ),
        sa.CheckConstraint("lines_done BETWEEN 0 AND lines_total", name="product_imports_lines_done_in_range"),
        sa.CheckConstraint(
            "(status = 'running') = (claimed_by IS NOT NULL AND lease_until IS NOT NULL)",
            name="product_imports_lease_while_running",
        ),
    )
    # The worker's claim (unfinished imports, oldest first), the listing (newest first), retention.
    op.create_index(
        "product_imports_unfinished",
        "product_imports",
        ["started_at"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_index("product_imports_started_id", "product_imports", ["started_at", "id"])
    op.create_index(
        "product_imports_finished", "product_imports", ["finished_at"], postgresql_where=sa.text("finished_at IS NOT NULL")
    )
    op.create_table(
        "product_import_lines",
        sa.Column(
            "import_id",
            UUID(as_uuid=True),
            sa.ForeignKey("product_imports.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("line", sa.BigInteger, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=True),
        sa.Column("slug", sa.Text, nullable=False, server_default=""),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("violations", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.CheckConstraint(
            "status IS NULL OR status IN ('ok', 'failed', 'blank')", name="product_import_lines_status_known"
        ),
        sa.CheckConstraint("line > 0", name="product_import_lines_line_positive"),
    )
    # failed_only reads: the failed lines of one import in line order.
    op.create_index(
        "product_import_lines_failed",
        "product_import_lines",
        ["import_id", "line"],
        postgresql_where=sa.text("status = 'failed'"),
    )


def downgrade() -> None:
    op.drop_table("product_import_lines")
    op.drop_table("product_imports")
