"""The PostgreSQL backend of the Writer: the server does the per-row work.

A table's rows go into a temporary staging table with one COPY, each row as the JSON line
the file holds. The server then types them (one cast per column, to the model field's own
column type), classifies them with a few set-based queries and writes them with one
`INSERT ... SELECT` and one `UPDATE ... FROM` (plus the link table's changes for
many-to-many keys). Python only brings back each row's id and outcome for the report, and
the links that must wait for the end (a cycle's).

The classification is the reference's (the row-by-row oracle of the tests), per write
policy (datatransfer/policies/):

- upsert: a row whose id the target lacks is created; one the target holds is unchanged
  when every value (and its many-to-many keys) is the same, else updated; a row that
  differs, under a policy that does not update (immutable), is the walk's to
  classify, as the policy says;
- matched by content (append-only): rows are a multiset (contents.py): the k-th row of a
  content in the file is unchanged when the target holds k rows of that content or more,
  else appended under a new id from the table's sequence (in a dry run, the ids the
  sequence would give, read without moving it);
- a link written last (a cycle, a self-reference) whose row is not in the target yet goes
  to the Writer's list of links set at the end; if it never comes, the row stays
  written without it, flagged unlinked.

What only a walk in file order decides goes to the Writer's walk (writer.py), so every
outcome and message stays the reference's:

- single rows whose link names a row the target lacks (or a refused row), whose
  many-to-many key is unknown, or an immutable row that differs: the walk refuses
  them with its message;
- a whole table, when it carries reference rows (a subset export's), when one of its rows
  is not in the plain spelling the tools write (`_column`), repeats an id, claims a unique
  value that another row holds (in the file or the target), or, in an append-only table
  or one that links to itself, when any row is refused: then ordering matters;
- a whole table again when the database refuses the set-based writes (a value too long
  for its column, say): the walk replays it, so that exactly the bad rows fail.

The staged rows are read back from the server for that, in file order, a chunk at a time:
the client's memory stays flat. Other databases have no such path:
the portable backend (portable.py) leaves every row to the walk.
"""

import contextlib

import psycopg.types.json
from django.db import DatabaseError, models, transaction

from datatransfer import phases
from datatransfer.formats.json.codec import dumps_json, loads_json
from datatransfer.locking import is_lock_timeout
from datatransfer.registry import table_key
from datatransfer.reports import Outcome
from datatransfer.sequences import SequenceIds, next_values
from datatransfer.writer.portable import PortableBackend
from datatransfer.writer.postgres_sql import (
    LINKS,
    PLAN,
    STAGE,
    TYPED,
    TableSQL,
    Unsupported,
    literal,
)

COPY_CHUNK = 5000  # rows per COPY write
READ_BACK = 2000  # rows per read of outcomes, and of the staged rows the walk gets

_OUTCOMES = {
    "new": Outcome.CREATED,
    "changed": Outcome.UPDATED,
    "same": Outcome.UNCHANGED,
    "append": Outcome.APPENDED,
}


class PostgresBackend(PortableBackend):
    """The Writer on PostgreSQL: each table written with a few set-based statements, the
    Writer's walk handed only what the order of the file decides (module docstring); in
    that walk, COPY for bulk inserts, one array parameter per lookup, and in a dry run the
    ids a sequence would give."""

    def __init__(self, writer):
        super().__init__(writer)
        self._statements = {}
        self._sequences = {}
        self._jit_off = False
        self._appended = []  # the ids the set-based path appended to the current table

    @contextlib.contextmanager
    def fast_path(self, table, raw_rows, on_rows):
        statements = self._table_sql(table)
        if statements is None:
            yield raw_rows, on_rows
            return
        with self.connection.cursor() as cursor:
            if not self._jit_off:
                # JIT compiling these wide one-off statements costs more than it saves
                # (half a second for some tables); for the import's transaction only.
                cursor.execute("SET LOCAL jit = off")
                self._jit_off = True
            # Dropped at the end of the table; at the end of the transaction after an error.
            cursor.execute(f"CREATE TEMP TABLE {STAGE} (_n integer, doc text) ON COMMIT DROP")
            self._stage(raw_rows, on_rows)
            self._appended = []
            try:
                with transaction.atomic(using=self.writer.using):
                    left = self._write(cursor, statements)
            except DatabaseError as error:
                if is_lock_timeout(error):
                    raise
                left = None  # the database refused a value: the walk replays the table
            else:
                if self._appended and self.writer.on_appended:
                    self.writer.on_appended(table, self._appended)
            yield self._staged_rows(cursor, left), None
            cursor.execute(f"DROP TABLE IF EXISTS {STAGE}, {TYPED}, {PLAN}, {LINKS}")

    # -- the walk's operations, PostgreSQL's way

    def existing(self, model, values) -> set:
        """The primary keys among `values` that the database holds: one query with one
        array parameter instead of one per value (much less to build and send)."""
        if not values:
            return set()
        quote = self.connection.ops.quote_name
        column = quote(model._meta.pk.column)
        sql = f"SELECT {column} FROM {quote(model._meta.db_table)} WHERE {column} = ANY(%s)"
        with self.connection.cursor() as cursor:
            cursor.execute(sql, [list(values)])
            return {row[0] for row in cursor.fetchall()}

    def insert(self, table, rows: list, *, fields=None) -> list | None:
        """Several rows with COPY, the database's bulk path (their ids are not read back);
        one with an INSERT (a replayed row, whose error then reads as the reference's)."""
        if len(rows) > 1:
            copy_rows(self.connection, table, rows, fields=fields)
            return None
        return super().insert(table, rows, fields=fields)

    def new_ids(self, table, rows: list) -> list:
        """In a dry run, the ids the table's sequence would give, taken without moving it
        (a sequence moved stays moved through the rollback); when the writer's
        `on_appended` asks for the new ids, the sequence's next ones (the very ids COPY would
        have taken); else the database's own."""
        if not self.writer.dry_run:
            if self.writer.on_appended is not None and rows:
                ids = next_values(self.connection, table.model, len(rows))
                for values, pk in zip(rows, ids, strict=True):
                    values[table.pk.attname] = pk
            return rows
        if table.key not in self._sequences:
            self._sequences[table.key] = SequenceIds(self.connection, table.model)
        for values in rows:
            values[table.pk.attname] = self._sequences[table.key].take()
        return rows

    # -- the set-based path

    def _table_sql(self, table):
        """The table's TableSQL when this path writes it, else None."""
        if self.writer.references.get(table.key):
            return None
        if table.key not in self._statements:
            try:
                self._statements[table.key] = TableSQL(table, self.connection)
            except Unsupported:
                self._statements[table.key] = None
        return self._statements[table.key]

    @phases.phase("stage")
    def _stage(self, raw_rows, on_rows) -> None:
        """COPY the rows, as JSON lines numbered in file order, into the staging table: one
        COPY per COPY_CHUNK rows, the rows taken between two of them, never during one, so
        that taking a row may query the connection (rowimages.read_ahead: a plan's reads)."""
        lines = []
        for number, raw in enumerate(raw_rows, start=1):
            # COPY's text format: a backslash is doubled; JSON has no raw tab or newline.
            line = dumps_json(raw).replace(b"\\", b"\\\\")
            lines.append(b"%d\t%s\n" % (number, line))
            if len(lines) == COPY_CHUNK:
                self._copy(lines, on_rows)
                lines = []
        self._copy(lines, on_rows)

    def _copy(self, lines: list, on_rows) -> None:
        if lines:
            with (
                self.connection.wrap_database_errors,
                self.connection.connection.cursor() as raw_cursor,
                raw_cursor.copy(f"COPY {STAGE} (_n, doc) FROM STDIN") as copy,
            ):
                copy.write(b"".join(lines))
        if on_rows:
            on_rows(len(lines))

    # -- the set-based path

    @phases.phase("type")  # then classify, write, outcomes (phases.switch)
    def _write(self, cursor, sql: TableSQL):
        """Type, classify and write the staged rows, and record their outcomes. Return the
        numbers of the rows left to the walk (None: all of them)."""
        cursor.execute(sql.typed())
        # Without an index, a lookup into these rows (a link into the same table) would
        # scan them once per row: quadratic, minutes for a table of 120,000 rows.
        cursor.execute(f"CREATE INDEX ON {TYPED} ({sql.pk})")
        phases.switch("classify")
        if self._needs_walk(cursor, sql):
            return None
        table = sql.table
        by_content = table.write_policy.matched_by_content
        if by_content:
            self._plan_append(cursor, sql)
        else:
            self._plan_upsert(cursor, sql)
        cursor.execute(
            f"SELECT bool_and(_fast), count(*) FILTER (WHERE _fast AND _new), "
            f"count(*) FILTER (WHERE _fast AND _kind = 'changed'), "
            f"count(*) FILTER (WHERE _fast AND _kind = 'append') FROM {PLAN}"
        )
        all_fast, new, changed, appended = cursor.fetchone()
        self_linked = any(s.field.related_model is table.model for s in table.deferred)
        if (by_content or self_linked) and all_fast is False:
            return None  # a refused row changes what follows it
        # Nothing to write, no write statement: an unchanged file writes nothing at all.
        phases.switch("write")
        if appended:
            self._append(cursor, sql)
        if changed and self.writer.on_updating is not None:
            cursor.execute(
                f"SELECT s.{sql.pk} FROM {TYPED} AS s JOIN {PLAN} USING (_n) "
                f"WHERE _fast AND _kind = 'changed' ORDER BY _n"
            )
            ids = [pk for (pk,) in cursor.fetchall()]
            for start in range(0, len(ids), READ_BACK):  # their images: a chunk at a time
                self.writer.on_updating(table, ids[start : start + READ_BACK])
        if new or changed:
            self._upsert(cursor, sql, new=new, changed=changed)
        phases.switch("outcomes")
        self._record_outcomes(cursor, sql)
        cursor.execute(f"SELECT _n FROM {PLAN} WHERE NOT _fast ORDER BY _n")
        return [number for (number,) in cursor.fetchall()]

    def _record_outcomes(self, cursor, sql: TableSQL) -> None:
        """Record the outcome of each row written here, and keep its links written last.
        The rows of an outcome nobody hears row by row, with no link to set last, are
        counted by the server; only the others are read back."""
        table = sql.table
        later = list(table.deferred)
        columns = ", ".join(f"s.{sql.quote(spec.field.column)}" for spec in later)
        wait = "".join(f", p._later_{i}" for i in range(len(later)))
        report = self.writer.report
        record = report.record
        quiet = "false"
        if unheard := [literal(k) for k, outcome in _OUTCOMES.items() if not report.heard(outcome)]:
            waits = " OR ".join(f"p._later_{i}" for i in range(len(later))) or "false"
            quiet = f"(p._kind IN ({', '.join(unheard)}) AND NOT coalesce({waits}, false))"
            cursor.execute(
                f"SELECT p._kind, count(*) FROM {PLAN} AS p WHERE p._fast AND {quiet} GROUP BY 1"
            )
            for kind, count in cursor.fetchall():
                report.record_many(table.key, _OUTCOMES[kind], count)
        for row_id, kind, *rest in self._read_in_chunks(
            f"SELECT p._label, p._kind{wait}{', ' + columns if later else ''} "
            f"FROM {PLAN} AS p JOIN {TYPED} AS s USING (_n) WHERE p._fast AND NOT {quiet} "
            "ORDER BY _n"
        ):
            outcome = _OUTCOMES[kind]
            record(table.key, outcome, row_id)
            waiting, values = rest[: len(later)], rest[len(later) :]
            links = {
                spec.attname: value
                for spec, wait_now, value in zip(later, waiting, values, strict=True)
                if wait_now
            }
            if links:
                self.writer.defer_links(table, row_id, outcome, links)

    def _read_in_chunks(self, query: str):
        """The rows of `query`, read through a server-side cursor READ_BACK at a time: a
        table of a million rows never sits whole in the client's memory."""
        with (
            self.connection.wrap_database_errors,
            self.connection.connection.cursor(name="dt_outcomes") as rows,
        ):
            rows.itersize = READ_BACK
            rows.execute(query)
            yield from rows

    def _needs_walk(self, cursor, sql: TableSQL) -> bool:
        """Whether the table's rows need the Writer's walk in file order: a row not
        in the plain spelling, a repeated id, a unique value claimed twice."""
        cursor.execute(f"SELECT bool_and(_clean), count(*) = count(DISTINCT {sql.pk}) FROM {TYPED}")
        all_clean, distinct = cursor.fetchone()
        if all_clean is False or not distinct:
            return True
        for fields in sql.table.unique_sets:
            columns = [sql.quote(field.column) for field in fields]
            same = " AND ".join(f"t.{c} = s.{c}" for c in columns)
            other = (
                "true" if sql.table.write_policy.matched_by_content else f"t.{sql.pk} <> s.{sql.pk}"
            )
            present = " AND ".join(f"{c} IS NOT NULL" for c in columns)
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM {TYPED} AS s JOIN {sql.target} AS t ON {same} "
                f"  WHERE {other}) "
                f"OR EXISTS (SELECT 1 FROM {TYPED} WHERE {present} "
                f"  GROUP BY {', '.join(columns)} HAVING count(*) > 1)"
            )
            if cursor.fetchone()[0]:
                return True
        return False

    def _refused_ids(self, sql: TableSQL) -> list[str]:
        """The ids refused (not written, lacking from the target) in the tables the table's
        links written last point to."""
        keys = {table_key(spec.field.related_model) for spec in sql.table.deferred}
        return [str(pk) for (key, pk) in self.writer.refused if key in keys]

    def _plan_upsert(self, cursor, sql: TableSQL) -> None:
        """The plan: each row's kind (new, same, changed), whether this path writes it
        (`fast`), and which of its links written last must wait for the end."""
        table = sql.table
        link_changes = []
        if sql.links:
            self._resolve_links(cursor, sql)
            for link in sql.links:
                link_changes.append(
                    f"EXISTS (SELECT 1 FROM {LINKS} AS w WHERE w._n = s._n AND w._alias = "
                    f"{literal(link.alias)} AND w._target IS NOT NULL AND NOT EXISTS ("
                    f"SELECT 1 FROM {link.table} AS l WHERE l.{link.owner} = s.{sql.pk} AND "
                    f"l.{link.target}::text = w._target)) "
                    f"OR EXISTS (SELECT 1 FROM {link.table} AS l "
                    f"WHERE l.{link.owner} = s.{sql.pk} AND NOT EXISTS (SELECT 1 FROM {LINKS} "
                    f"AS w WHERE w._n = s._n AND w._alias = {literal(link.alias)} AND "
                    f"w._target = l.{link.target}::text))"
                )
        links_differ = " OR ".join(f"({c})" for c in link_changes) or "false"
        unknown_key = (
            f"EXISTS (SELECT 1 FROM {LINKS} AS w WHERE w._n = s._n AND w._target IS NULL)"
            if sql.links
            else "false"
        )
        refused = self._refused_ids(sql)
        later = [f"{sql.later(spec)} AS _later_{i}" for i, spec in enumerate(table.deferred)]
        # A changed row of a policy that does not update it is left to the walk,
        # which asks the policy what it is (unchanged, or a conflict).
        changed_ok = "true" if table.write_policy.updates else "false"
        cursor.execute(
            f"CREATE TEMP TABLE {PLAN} ON COMMIT DROP AS "
            f"SELECT _n, _label, CASE WHEN _kind = 'same' AND _links_differ THEN 'changed' "
            f"  ELSE _kind END AS _kind, _kind = 'new' AS _new, "
            f"  (_kind = 'same' AND NOT _links_differ OR ({sql.linked(bool(refused))}) "
            f"   AND (_kind <> 'changed' OR {changed_ok})) AND NOT _unknown_key AS _fast"
            f"  {''.join(', ' + item for item in later)} "
            f"FROM (SELECT s.*, CASE WHEN t.{sql.pk} IS NULL THEN 'new' "
            f"  WHEN {sql.row('s')} IS NOT DISTINCT FROM {sql.row('t')} THEN 'same' "
            f"  ELSE 'changed' END AS _kind, "
            f"  t.{sql.pk} IS NOT NULL AND ({links_differ}) AS _links_differ, "
            f"  {unknown_key} AS _unknown_key "
            f"  FROM {TYPED} AS s LEFT JOIN {sql.target} AS t ON t.{sql.pk} = s.{sql.pk}) AS s",
            {"refused": refused} if refused else None,
        )

    def _resolve_links(self, cursor, sql: TableSQL) -> None:
        """Each row's many-to-many keys, with the related row's id (NULL: unknown key)."""
        selects = [
            f"SELECT s._n, {literal(link.alias)} AS _alias, r.{link.related_pk}::text AS _target "
            f"FROM {TYPED} AS s CROSS JOIN LATERAL jsonb_array_elements_text(s.{link.alias}) "
            f"AS k(key) LEFT JOIN {link.related} AS r ON r.{link.related_key}::text = k.key"
            for link in sql.links
        ]
        cursor.execute(f"CREATE TEMP TABLE {LINKS} ON COMMIT DROP AS {' UNION ALL '.join(selects)}")
        cursor.execute(f"CREATE INDEX ON {LINKS} (_n)")
        cursor.execute(f"ANALYZE {LINKS}")

    def _upsert(self, cursor, sql: TableSQL, *, new: int, changed: int) -> None:
        """Insert the `new` rows, update the `changed` ones, set their links."""
        table = sql.table
        later = {spec.attname: i for i, spec in enumerate(table.deferred)}

        def value(spec, name, meanwhile):
            """The file's value; for a link that waits, `meanwhile` until the end."""
            if spec.attname not in later:
                return f"s.{name}"
            return f"CASE WHEN _later_{later[spec.attname]} THEN {meanwhile} ELSE s.{name} END"

        values = [value(spec, name, "NULL") for spec, name, _, _ in sql.columns]
        kept = [value(spec, name, f"t.{name}") for spec, name, _, _ in sql.columns]
        names = ", ".join(sql.names)
        if new:
            cursor.execute(
                f"INSERT INTO {sql.target} ({names}) SELECT {', '.join(values)} "
                f"FROM {TYPED} AS s JOIN {PLAN} USING (_n) WHERE _fast AND _new ORDER BY _n"
            )
        if changed:
            cursor.execute(
                f"UPDATE {sql.target} AS t SET ({names}) = ({', '.join(kept)}) "
                f"FROM {TYPED} AS s JOIN {PLAN} USING (_n) "
                f"WHERE t.{sql.pk} = s.{sql.pk} AND _fast AND _kind = 'changed' "
                # a row whose links only changed keeps its row version
                f"AND ({', '.join(kept)}) IS DISTINCT FROM {sql.row('t')}"
            )
        for link in sql.links:
            alias = literal(link.alias)
            if changed:
                cursor.execute(
                    f"DELETE FROM {link.table} AS l USING {TYPED} AS s JOIN {PLAN} USING (_n) "
                    f"WHERE _fast AND _kind = 'changed' AND l.{link.owner} = s.{sql.pk} "
                    f"AND NOT EXISTS (SELECT 1 FROM {LINKS} AS w "
                    f"WHERE w._n = s._n AND w._alias = {alias} "
                    f"AND w._target = l.{link.target}::text)"
                )
            owner_type = sql.table.pk.field.db_type(self.connection)
            target_type = link.spec.related_model._meta.pk.db_type(self.connection)
            cursor.execute(
                f"INSERT INTO {link.table} ({link.owner}, {link.target}) "
                f"SELECT s.{sql.pk}::{owner_type}, w._target::{target_type} "
                f"FROM {LINKS} AS w JOIN {PLAN} USING (_n) JOIN {TYPED} AS s USING (_n) "
                f"WHERE _fast AND w._alias = {alias} AND NOT EXISTS (SELECT 1 FROM {link.table} "
                f"AS l WHERE l.{link.owner} = s.{sql.pk} AND l.{link.target}::text = w._target) "
                f"ORDER BY _n, w._target"
            )

    def _plan_append(self, cursor, sql: TableSQL) -> None:
        """The plan of an append-only table, a multiset (contents.py): the k-th row of a
        content in the file is the same event as one of the target's rows of that content
        when the target holds k of them or more, else it is appended."""
        content = sql.content_names
        key = "jsonb_build_array(" + ", ".join(f"s.{name}" for name in content) + ")"
        held = "jsonb_build_array(" + ", ".join(f"t.{name}" for name in content) + ")"
        cursor.execute(
            f"CREATE TEMP TABLE {PLAN} ON COMMIT DROP AS "
            f"SELECT _n, _label, "
            f"  CASE WHEN _rank <= _held THEN 'same' ELSE 'append' END AS _kind, "
            f"  false AS _new, {sql.linked(False)} AS _fast "
            f"FROM (SELECT s.*, coalesce(h._count, 0) AS _held, "
            f"  row_number() OVER (PARTITION BY {key} ORDER BY _n) AS _rank "
            f"  FROM {TYPED} AS s LEFT JOIN (SELECT {held} AS _content, count(*) AS _count "
            f"    FROM {sql.target} AS t GROUP BY 1) AS h ON h._content = {key}) AS s"
        )

    def _append(self, cursor, sql: TableSQL) -> None:
        """Append the new events under new ids: the sequence's, or in a dry run the ones it
        would give, read without moving it."""
        content = ", ".join(sql.content_names)
        values = ", ".join(f"s.{name}" for name in sql.content_names)
        rows = f"FROM {TYPED} AS s JOIN {PLAN} USING (_n) WHERE _fast AND _kind = 'append'"
        if self.writer.dry_run:
            ids = SequenceIds(self.connection, sql.table.model)
            cursor.execute(
                f"INSERT INTO {sql.target} ({sql.pk}, {content}) "
                f"SELECT %s + %s * (row_number() OVER (ORDER BY _n) - 1), {values} {rows} "
                "ORDER BY _n",
                [ids.next, ids.step],
            )
        elif self.writer.on_appended is not None:  # the new ids are asked for
            cursor.execute(
                f"INSERT INTO {sql.target} ({content}) SELECT {values} {rows} ORDER BY _n "
                f"RETURNING {sql.pk}"
            )
            self._appended = [pk for (pk,) in cursor.fetchall()]
        else:
            cursor.execute(
                f"INSERT INTO {sql.target} ({content}) SELECT {values} {rows} ORDER BY _n"
            )

    def _staged_rows(self, cursor, numbers):
        """The staged rows `numbers` (None: all), in file order, read back a chunk at a time."""
        if numbers is None:
            last = 0
            while True:
                cursor.execute(
                    f"SELECT _n, doc FROM {STAGE} WHERE _n > %s ORDER BY _n LIMIT %s",
                    [last, READ_BACK],
                )
                chunk = cursor.fetchall()
                if not chunk:
                    return
                last = chunk[-1][0]
                for _, doc in chunk:
                    yield loads_json(doc.encode())
        for start in range(0, len(numbers), READ_BACK):
            cursor.execute(
                f"SELECT doc FROM {STAGE} WHERE _n = ANY(%s) ORDER BY _n",
                [numbers[start : start + READ_BACK]],
            )
            for (doc,) in cursor.fetchall():
                yield loads_json(doc.encode())


def _json_dumps(value) -> str:
    return dumps_json(value).decode()


def copy_rows(connection, table, rows: list[dict], *, fields=None) -> None:
    """Insert new rows with PostgreSQL's COPY, the database's own bulk path.

    `rows` hold model values by attribute name; absent fields take their default. Only
    the columns of `fields` (FieldSpecs, default all) are written: the others take the
    database's default (a sequence's next value). Database errors come out as Django's
    DatabaseError, as from any other query.
    """
    fields = [spec.field for spec in (table.fields if fields is None else fields)]
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"COPY {connection.ops.quote_name(table.model._meta.db_table)} ({columns}) FROM STDIN"
    with (
        connection.wrap_database_errors,
        connection.connection.cursor() as cursor,
        cursor.copy(sql) as copy,
    ):
        for values in rows:
            record = []
            for spec_field in fields:
                name = spec_field.attname
                value = values[name] if name in values else spec_field.get_default()
                if name in json_fields and value is not None:
                    value = psycopg.types.json.Jsonb(value, dumps=_json_dumps)
                record.append(value)
            copy.write_row(record)
