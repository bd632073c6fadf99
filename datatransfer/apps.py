from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DatatransferConfig(AppConfig):
    name = "datatransfer"
    verbose_name = _("Data transfer")
