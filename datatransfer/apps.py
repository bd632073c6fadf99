from django.apps import AppConfig


class DatatransferConfig(AppConfig):
    name = "datatransfer"
    verbose_name = "Data transfer"
