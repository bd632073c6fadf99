"""The five changes of the platform's schema that the models must follow (issue 22), as edits
of the vendored core/prisma/schema.prisma: each takes its text and returns the changed one."""

from pathlib import Path

VENDORED = Path(__file__).resolve().parents[1] / "core" / "prisma" / "schema.prisma"


def vendored() -> str:
    return VENDORED.read_text(encoding="utf-8")


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} is not once in the schema"
    return text.replace(old, new)


def new_optional_column(text: str) -> str:
    """`User.nickname String?`."""
    return _replace(
        text, "  phone              String?\n", "  phone              String?\n  nickname String?\n"
    )


def new_required_column_with_default(text: str) -> str:
    """`Organization.memberLimit Int @default(50)`."""
    return _replace(
        text,
        "  isActive          Boolean              @default(true)\n  ownerId",
        "  isActive          Boolean              @default(true)\n"
        "  memberLimit Int @default(50)\n  ownerId",
    )


BADGE = """
model Badge {
  id             String       @id @default(cuid())
  organizationId String
  organization Organization @relation(fields: [organizationId], references: [id], onDelete: Cascade)
  code           String       @db.VarChar(20)
  label          String
  createdAt      DateTime     @default(now())
  updatedAt      DateTime     @updatedAt

  @@unique([organizationId, code])
}
"""


def new_model(text: str) -> str:
    """`Badge`: a relation to Organization (`Organization.badges`) and a unique pair."""
    text = _replace(
        text,
        "  abonnements       Abonnement[]\n",
        "  abonnements       Abonnement[]\n  badges Badge[]\n",
    )
    return text + BADGE


def new_enum_label(text: str) -> str:
    """`Role.GUEST`."""
    return _replace(text, "  AGENT\n  USER\n}", "  AGENT\n  USER\n  GUEST\n}")


def dropped_column(text: str) -> str:
    """`DemandePartage.motif` dropped."""
    return _replace(text, "  motif         String?\n", "")


CHANGES = {
    "new optional column": new_optional_column,
    "new required column with a default": new_required_column_with_default,
    "new model": new_model,
    "new enum label": new_enum_label,
    "dropped column": dropped_column,
}
