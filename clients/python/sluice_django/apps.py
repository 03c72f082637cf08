from django.apps import AppConfig


class SluiceConfig(AppConfig):
    name = "sluice_django"
    verbose_name = "Sluice tasks"
    default_auto_field = "django.db.models.AutoField"
