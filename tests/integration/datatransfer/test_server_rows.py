"""On PostgreSQL the export's rows are spelled by the server (datatransfer/formats/json/server.py):
the file must be the one the Python path writes, byte for byte, for every option, on a
Prisma-made database holding awkward values."""

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.db import connections, models
from psycopg import sql

from core import models as core
from core.demo import seed_demo
from datatransfer import exporter
from datatransfer.exporter import export_domain
from datatransfer.formats.json.server import Column, table_sql, value_sql
from datatransfer.formats.rows import encode_value, format_date, format_datetime
from datatransfer.registry import domain_tables
from datatransfer.subset import organization_scope

pytestmark = pytest.mark.django_db(transaction=True)

AWKWARD = 'Zoë "quoted" \\ back\\slash\ttab\nline \x01\x1f ctrl \u2028 😀 </script>'


def awkward_values(alias):
    """Change rows of the seeded database to hold the values a spelling gets wrong."""
    using = {"using": alias}
    organization = core.Organization.objects.using(alias).order_by("slug").first()
    core.Organization.objects.using(alias).filter(pk=organization.pk).update(
        name=AWKWARD, phone=None, address=""
    )
    user = core.User.objects.using(alias).filter(organization=organization).first()
    core.User.objects.using(alias).filter(pk=user.pk).update(first_name=AWKWARD, last_name=None)
    # Keys whose code point order is not a locale's: Python sorts them this way.
    for key in ("Zeta", "alpha", "b_under", "Émile", "émile", "z"):
        permission = core.Permission(key=key, label=key)
        permission.save(**using)
        core.PermissionToUser.objects.using(alias).create(permission=permission, user=user)
    core.Organization(name="Empty", slug="zz-empty", type="AUTRE").save(**using)
    demande = core.DemandePartage.objects.using(alias).order_by("pk").first()
    nested = {
        "": "an empty key",
        "nested": {"list": [1, 2.5, -0.0, 1e300, 12345678901234567890123, 'ü"\\\n']},
        "null": None,
        "yes": True,
        "big": 2**63 + 5,
    }
    core.DemandePartage.objects.using(alias).filter(pk=demande.pk).update(
        metadata=nested,
        deleted_at=dt.datetime(5, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC),
    )
    core.Payment.objects.using(alias).filter(
        pk=core.Payment.objects.using(alias).order_by("pk").values("pk")[:1]
    ).update(metadata=None)
    prices = (Decimal("0"), Decimal("15000.50"), Decimal("-0.01"), Decimal("9999999999.99"))
    for abonnement, price in zip(
        core.Abonnement.objects.using(alias).order_by("pk"), prices, strict=False
    ):
        core.Abonnement.objects.using(alias).filter(pk=abonnement.pk).update(price=price)
    document = core.DocumentPartage.objects.using(alias).order_by("pk").first()
    core.DocumentPartage.objects.using(alias).filter(pk=document.pk).update(
        file_size=2**62 + 1, date_obtention=dt.date(5, 3, 1), mention=""
    )
    block = core.BlockchainBlock.objects.using(alias).order_by("pk").first()
    core.BlockchainBlock.objects.using(alias).filter(pk=block.pk).update(nonce=-(2**63))
    with connections[alias].cursor() as cursor:
        # Numbers no float holds (jsonb writes 1e400 with its 400 zeros).
        cursor.execute(
            'UPDATE "Configuration" SET value = \'{"huge": 1e400, "tiny": 1e-400}\' '
            'WHERE id = (SELECT min(id) FROM "Configuration")'
        )


@pytest.fixture
def awkward_database(make_database):
    alias = make_database("prisma")
    seed_demo(scale=1, seed=42, using=alias)
    awkward_values(alias)
    return alias


def export(alias, *, server_spelling, organizations=(), **options) -> str:
    stream = io.StringIO()
    scope = organization_scope(organizations, using=alias) if organizations else None
    export_domain(
        stream,
        using=alias,
        scope=scope,
        server_spelling=server_spelling,
        signing_key="a signing key",
        **options,
    )
    return stream.getvalue()


OPTIONS = {
    "default": {},
    "one line": {"indent": None},
    "indent 4": {"indent": 4},
    "secrets excluded": {"exclude_secrets": True},
    "tables excluded": {"exclude": ["auditLogs", "core.Payment"]},
}


def test_the_server_spells_every_file_as_python_does(awkward_database, monkeypatch):
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=dt.UTC)
    monkeypatch.setattr(exporter.timezone, "now", lambda: moment)
    rows = core.Organization.objects.using(awkward_database).order_by("slug")
    slugs = list(rows.values_list("slug", flat=True))
    options = {
        **OPTIONS,
        "one organization": {"organizations": slugs[:1]},
        "two, no secrets": {"organizations": slugs[1:3], "exclude_secrets": True},
        "one without rows": {"organizations": ["zz-empty"]},
    }
    files = {}
    for name, option in options.items():
        files[name] = export(awkward_database, server_spelling=False, **option)
        server = export(awkward_database, server_spelling=True, **option)
        assert server == files[name], name
    # The awkward values are in the file, and a subset has references.
    assert json.dumps(AWKWARD, ensure_ascii=False) in files["default"]
    assert '"big": 9223372036854775813' in files["default"]
    assert '"huge": 1' + "0" * 400 in files["default"]  # as jsonb spells 1e400
    assert '"references"' in files["one organization"]


def test_every_domain_table_is_spelled_by_the_server(awkward_database):
    with connections[awkward_database].cursor() as cursor:
        for secrets in (False, True):
            spelled = {
                t.key: table_sql(t, cursor.cursor, exclude_secrets=secrets) is not None
                for t in domain_tables()
            }
            assert all(spelled.values()), spelled


def spelled(alias, field, column: Column, values, cast: str) -> list:
    """Each of `values` spelled by value_sql(field) on a column of type `cast`."""
    ref = sql.Identifier("v", "value")
    expression = value_sql(field, ref, column)
    query = sql.SQL("SELECT {} FROM (SELECT unnest(%s::{}[]) AS value) v").format(
        expression, sql.SQL(cast)
    )
    with connections[alias].cursor() as cursor:
        cursor.execute(query.as_string(cursor.cursor), [values])
        return [value for (value,) in cursor.fetchall()]


@pytest.mark.parametrize("precision", [0, 3, 6])
@pytest.mark.parametrize("zone", ["with", "without"])
def test_times_are_spelled_as_the_codec_spells_them(make_database, precision, zone):
    alias = make_database("postgresql")
    times = [
        dt.datetime(2025, 1, 15, 10, 30, 0, tzinfo=dt.UTC),
        dt.datetime(2025, 1, 15, 10, 30, 0, 412000, tzinfo=dt.UTC),
        dt.datetime(2025, 1, 15, 10, 30, 0, 412345, tzinfo=dt.UTC),
        dt.datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    ]
    step = 10 ** (6 - precision)
    times = [t.replace(microsecond=t.microsecond - t.microsecond % step) for t in times]
    cast = f"timestamp({precision}) {zone} time zone"
    column = Column(f"timestamp {zone} time zone", precision, False)
    given = times if zone == "with" else [t.replace(tzinfo=None) for t in times]
    field = models.DateTimeField()
    assert spelled(alias, field, column, given, cast) == [format_datetime(t) for t in times]


def test_dates_decimals_and_big_integers_are_spelled_as_the_codec_spells_them(make_database):
    alias = make_database("postgresql")
    dates = [dt.date(2025, 1, 15), dt.date(5, 3, 1), dt.date(999, 12, 31)]
    field = models.DateField()
    column = Column("date", -1, False)
    assert spelled(alias, field, column, dates, "date") == [format_date(d) for d in dates]

    decimal = models.DecimalField(max_digits=12, decimal_places=2)
    numbers = [Decimal("0"), Decimal("15000.5"), Decimal("-1.25"), Decimal("1")]
    for scale in (0, 1, 2):
        column = Column("numeric", ((12 << 16) | scale) + 4, False)
        given = [n.quantize(Decimal(1).scaleb(-scale), rounding="ROUND_DOWN") for n in numbers]
        expected = [encode_value(decimal, n) for n in given]
        assert spelled(alias, decimal, column, given, f"numeric(12,{scale})") == expected
    # More places in the column than the field's: rounding would differ, Python spells it.
    for typmod in ((12 << 16 | 3) + 4, -1):
        assert value_sql(decimal, sql.Identifier("v"), Column("numeric", typmod, False)) is None

    big = models.BigIntegerField()
    numbers = [0, 2**53 + 1, 2**63 - 1, -(2**63)]
    column = Column("bigint", -1, False)
    assert spelled(alias, big, column, numbers, "bigint") == [str(n) for n in numbers]


def test_a_column_the_server_cannot_spell_leaves_its_table_to_python():
    ref = sql.Identifier("v")
    assert value_sql(models.FloatField(), ref, Column("double precision", -1, False)) is None
    assert value_sql(models.FileField(), ref, Column("character varying", -1, False)) is None
    # A field whose column is not the type the codec expects.
    assert value_sql(models.TextField(), ref, Column("jsonb", -1, False)) is None
    assert value_sql(models.DateTimeField(), ref, Column("date", -1, False)) is None
    assert value_sql(models.DateField(), ref, naive := Column("timestamp", 3, False)) is None
    assert value_sql(models.ForeignKey(core.User, models.CASCADE), ref, naive) is None
    assert value_sql(models.UUIDField(), ref, Column("uuid", -1, False)) is None
    # A JSON field with its own decoder: what Python makes of the text is the decoder's.
    assert value_sql(models.JSONField(), ref, jsonb := Column("jsonb", -1, False)) is not None
    assert value_sql(models.JSONField(decoder=json.JSONDecoder), ref, jsonb) is None


def test_a_time_without_time_zone_is_spelled_only_where_python_reads_it_as_utc(settings):
    ref, naive = sql.Identifier("v"), Column("timestamp without time zone", 3, False)
    aware = Column("timestamp with time zone", 6, False)
    settings.TIME_ZONE = "Europe/Paris"  # a naive time is read in Paris time then
    assert value_sql(models.DateTimeField(), ref, naive) is None
    assert value_sql(models.DateTimeField(), ref, aware) is not None
    # core.fields.TimestampField reads its naive times as UTC, whatever TIME_ZONE says.
    assert value_sql(core.User._meta.get_field("created_at"), ref, naive) is not None
