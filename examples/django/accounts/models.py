from django.db import models


class Note(models.Model):
    """Something a task or a view writes, to see which database it went to."""

    text = models.TextField()
