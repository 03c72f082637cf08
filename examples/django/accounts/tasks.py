"""The tasks of the accounts app; async_task("accounts.tasks.echo_test", ...) runs them."""

import os
import time

from .models import Note


def echo_test(message):
    """Return the message: checks a deployment end to end."""
    return message


def always_fails(reason="on purpose"):
    raise ValueError(reason)


def pid():
    """The id of the worker process running the task."""
    return os.getpid()


def sleep(seconds):
    time.sleep(seconds)
    return os.getpid()


def add_note(text):
    """Write a Note in whichever database the task runs against."""
    return Note.objects.create(text=text).id


def record_hook(task):
    """A hook: note the finished task (its id, state and result) as a Note."""
    return Note.objects.create(text="hook {} {} {}".format(task.id, task.state, task.result)).id
