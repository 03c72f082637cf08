"""Read-only models over the SQL contract's view sluice_tasks_v1, for the admin.

Unmanaged: Django never creates, alters or flushes the view; Sluice does.
"""

import datetime
import json
import time

from django.db import models

from . import conf


def _ms(ms):
    if ms is None:
        return None
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)


class JSONTextField(models.TextField):
    """A JSON column read as its text on either engine: SQLite stores text,
    and PostgreSQL's jsonb (history) arrives decoded from its driver.

    It stays a TextField to migrations, so the model's state does not change.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value)

    def deconstruct(self):
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.TextField", args, kwargs


class TaskQuerySet(models.QuerySet):
    pass


class StateManager(models.Manager):
    """Tasks in some states, on the queue's database."""

    def __init__(self, *states, due=None):
        super().__init__()
        self.states, self.due = states, due

    def get_queryset(self):
        qs = TaskQuerySet(self.model, using=conf.get("DATABASE"))
        if self.states:
            qs = qs.filter(state__in=self.states)
        now_ms = int(time.time() * 1000)
        if self.due is True:
            qs = qs.filter(run_at__lte=now_ms)
        elif self.due is False:
            qs = qs.filter(run_at__gt=now_ms)
        return qs


class Task(models.Model):
    id = models.BigIntegerField(primary_key=True)
    job = models.TextField()
    payload = models.TextField()
    queue = models.TextField()
    priority = models.IntegerField()
    state = models.TextField()
    attempt = models.IntegerField()
    max_attempts = models.IntegerField(null=True)
    timeout_ms = models.BigIntegerField(null=True)
    task_group = models.TextField(null=True)
    run_at = models.BigIntegerField()
    created_at = models.BigIntegerField()
    started_at = models.BigIntegerField(null=True)
    finished_at = models.BigIntegerField(null=True)
    duration_ms = models.BigIntegerField(null=True)
    result = models.TextField(null=True)
    error = models.TextField(null=True)
    history = JSONTextField()

    objects = StateManager()

    class Meta:
        managed = False
        db_table = "sluice_tasks_v1"
        ordering = ["-id"]

    def __str__(self):
        return "{} {}".format(self.id, self.func)

    @property
    def func(self):
        try:
            return json.loads(self.payload).get("func") or self.job
        except (ValueError, AttributeError):
            return self.job

    @property
    def started(self):
        return _ms(self.started_at)

    @property
    def stopped(self):
        return _ms(self.finished_at)

    @property
    def due(self):
        return _ms(self.run_at)

    @property
    def duration(self):
        """Seconds the latest attempt took."""
        return None if self.duration_ms is None else self.duration_ms / 1000


class Success(Task):
    objects = StateManager("succeeded")

    class Meta:
        proxy = True
        verbose_name = "successful task"


class Failure(Task):
    objects = StateManager("failed")

    class Meta:
        proxy = True
        verbose_name = "failed task"


class Queued(Task):
    objects = StateManager("queued", "running", due=True)

    class Meta:
        proxy = True
        verbose_name = "queued task"


class Scheduled(Task):
    objects = StateManager("queued", due=False)

    class Meta:
        proxy = True
        verbose_name = "scheduled task"
        verbose_name_plural = "scheduled tasks (due later)"
