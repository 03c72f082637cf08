from django.db import OperationalError, transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sluice_django import async_task

from .models import Note


@csrf_exempt
def signup(request):
    """Writes a Note and enqueues its welcome task in one transaction; with
    fail=1 the transaction rolls back, and neither exists."""
    try:
        with transaction.atomic():
            note = Note.objects.create(text=request.POST.get("text", "new account"))
            task_id = async_task("accounts.tasks.echo_test", "welcome {}".format(note.id), group="signup")
            if request.POST.get("fail"):
                raise ValueError("signup failed after the enqueue")
    except ValueError as e:
        return JsonResponse({"error": str(e)}, status=409)
    return JsonResponse({"note": note.id, "task": task_id})


@csrf_exempt
def bump(request):
    """Reads, then writes, then enqueues, in one transaction: the shape that
    gets "database is locked" under a concurrent writer with a deferred BEGIN."""
    try:
        with transaction.atomic():
            n = Note.objects.count()
            note = Note.objects.create(text="bump {}".format(n))
            task_id = async_task("accounts.tasks.echo_test", note.id)
    except OperationalError as e:
        return JsonResponse({"error": str(e)}, status=503)
    return JsonResponse({"note": note.id, "task": task_id})
