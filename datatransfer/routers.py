"""Where each model lives: the domain's models in the platform's database, the rest here.

The domain apps (`settings.DATATRANSFER_APPS`, default `core`) read and write
`settings.DOMAIN_DATABASE` unless a query names another alias. `migrate` creates the
project's own tables (admin, auth, sessions, export history) in `default` only, and
never a domain table there; on any other alias it creates only the domain's tables, for
a test copy (`migrate core --database ALIAS`). The platform's databases themselves are
made by Prisma and need no `migrate`: see refuse_migrating_a_platform_database below
for the guard.
"""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

DEFAULT_DOMAIN_APPS = ("core",)


def domain_apps() -> tuple[str, ...]:
    return tuple(getattr(settings, "DATATRANSFER_APPS", DEFAULT_DOMAIN_APPS))


def domain_database() -> str:
    """The alias the commands use when none is given: the platform's database."""
    return getattr(settings, "DOMAIN_DATABASE", DEFAULT_DB_ALIAS)


class DomainRouter:
    def _for(self, model):
        if model._meta.app_label in domain_apps():
            return domain_database()
        return DEFAULT_DB_ALIAS

    def db_for_read(self, model, **hints):
        return self._for(model)

    def db_for_write(self, model, **hints):
        return self._for(model)

    def allow_relation(self, obj1, obj2, **hints):
        domain = domain_apps()
        return (obj1._meta.app_label in domain) == (obj2._meta.app_label in domain)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return (db == DEFAULT_DB_ALIAS) != (app_label in domain_apps())


def refuse_migrating_a_platform_database(sender, using, **kwargs):
    """pre_migrate: `migrate --database ALIAS` on a database that already holds the domain's
    tables but was never migrated by Django is a platform database made by Prisma. Stop
    before Django writes anything there (its django_migrations table first of all)."""
    from django.apps import apps
    from django.core.management import CommandError
    from django.db import connections

    if using == DEFAULT_DB_ALIAS or sender.label != domain_apps()[0]:
        return
    connection = connections[using]
    present = set(connection.introspection.table_names())
    if "django_migrations" in present:
        return
    domain_tables = {
        model._meta.db_table
        for label in domain_apps()
        for model in apps.get_app_config(label).get_models()
    }
    if present & domain_tables:
        raise CommandError(
            f"Database '{using}' already holds the platform's tables (made by Prisma): it "
            "needs no migrate, and nothing was written to it. `python manage.py migrate` "
            "alone creates this project's own tables."
        )
