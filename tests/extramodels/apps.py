from django.apps import AppConfig


class ExtraModelsConfig(AppConfig):
    name = "tests.extramodels"
    label = "extramodels"
    default_auto_field = "django.db.models.BigAutoField"
