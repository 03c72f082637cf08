"""The admin over the contract's view: successful, failed, queued and
scheduled tasks, with resubmit and cancel (which run `sluice retry` and
`sluice cancel`: writes are not part of the SQL contract)."""

from django.contrib import admin, messages

from . import api
from .models import Failure, Queued, Scheduled, Success


class TaskAdmin(admin.ModelAdmin):
    list_display = ("id", "func", "started", "stopped", "duration", "attempt", "queue", "task_group")
    search_fields = ("payload", "task_group")
    list_filter = ("queue",)
    actions = ["cancel"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _run(self, request, verb, queryset):
        ids = [str(t.id) for t in queryset]
        try:
            api.sluice(verb, *ids)
        except RuntimeError as e:
            self.message_user(request, str(e), messages.ERROR)
            return
        self.message_user(request, "{}: {}".format(verb, ", ".join(ids)))

    @admin.action(description="Cancel selected tasks")
    def cancel(self, request, queryset):
        self._run(request, "cancel", queryset)

    @admin.action(description="Resubmit selected tasks")
    def resubmit(self, request, queryset):
        self._run(request, "retry", queryset)


@admin.register(Success)
class SuccessAdmin(TaskAdmin):
    list_display = ("id", "func", "started", "stopped", "duration", "attempt", "result")
    actions = []


@admin.register(Failure)
class FailureAdmin(TaskAdmin):
    list_display = ("id", "func", "started", "stopped", "duration", "attempt", "short_error")
    actions = ["resubmit"]

    @admin.display(description="error")
    def short_error(self, obj):
        return (obj.error or "")[-200:]


@admin.register(Queued)
class QueuedAdmin(TaskAdmin):
    list_display = ("id", "func", "state", "due", "attempt", "queue", "task_group")


@admin.register(Scheduled)
class ScheduledAdmin(TaskAdmin):
    list_display = ("id", "func", "due", "attempt", "queue", "task_group")
