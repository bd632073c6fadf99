from django.apps import AppConfig
from django.db.models.signals import pre_migrate
from django.utils.translation import gettext_lazy as _


class DatatransferConfig(AppConfig):
    name = "datatransfer"
    verbose_name = _("Data transfer")

    def ready(self):
        from django.contrib import admin

        from datatransfer.admin import add_export_action
        from datatransfer.formats import prepare_formats
        from datatransfer.routers import refuse_migrating_a_platform_database

        pre_migrate.connect(refuse_migrating_a_platform_database)
        # What each format needs of the process (JSON: integers of any size kept exact).
        prepare_formats()
        # The admin modules are loaded (admin's own ready() ran first): core's organizations
        # get the export action from here, so that core never imports the transfer app.
        add_export_action(admin.site)
