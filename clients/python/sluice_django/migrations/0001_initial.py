# The models are unmanaged (a view Sluice owns): this migration changes no table.
from django.db import migrations, models


def fields():
    return [
        ("id", models.BigIntegerField(primary_key=True, serialize=False)),
        ("job", models.TextField()),
        ("payload", models.TextField()),
        ("queue", models.TextField()),
        ("priority", models.IntegerField()),
        ("state", models.TextField()),
        ("attempt", models.IntegerField()),
        ("max_attempts", models.IntegerField(null=True)),
        ("timeout_ms", models.BigIntegerField(null=True)),
        ("task_group", models.TextField(null=True)),
        ("run_at", models.BigIntegerField()),
        ("created_at", models.BigIntegerField()),
        ("started_at", models.BigIntegerField(null=True)),
        ("finished_at", models.BigIntegerField(null=True)),
        ("duration_ms", models.BigIntegerField(null=True)),
        ("result", models.TextField(null=True)),
        ("error", models.TextField(null=True)),
        ("history", models.TextField()),
    ]


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(name="Task", fields=fields(),
                               options={"db_table": "sluice_tasks_v1", "ordering": ["-id"], "managed": False}),
        migrations.CreateModel(name="Success", fields=[], bases=("sluice_django.task",),
                               options={"proxy": True, "verbose_name": "successful task"}),
        migrations.CreateModel(name="Failure", fields=[], bases=("sluice_django.task",),
                               options={"proxy": True, "verbose_name": "failed task"}),
        migrations.CreateModel(name="Queued", fields=[], bases=("sluice_django.task",),
                               options={"proxy": True, "verbose_name": "queued task"}),
        migrations.CreateModel(name="Scheduled", fields=[], bases=("sluice_django.task",),
                               options={"proxy": True, "verbose_name": "scheduled task",
                                        "verbose_name_plural": "scheduled tasks (due later)"}),
    ]
