from django.apps import AppConfig
from django.db.models.signals import pre_migrate
from django.utils.translation import gettext_lazy as _


class DatatransferConfig(AppConfig):
    name = "datatransfer"
    verbose_name = _("Data transfer")

    def ready(self):
        from datatransfer.routers import refuse_migrating_a_platform_database

        pre_migrate.connect(refuse_migrating_a_platform_database)
