"""flavors: Octavia's flavor profiles and flavors

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flavor_profiles",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("provider_name", sa.String(64), nullable=False),
        sa.Column("flavor_data", sa.Text, nullable=False),
    )
    op.create_table(
        "flavors",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column(
            "flavor_profile_id",
            sa.String(36),
            sa.ForeignKey("flavor_profiles.id"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_table("flavors")
    op.drop_table("flavor_profiles")
