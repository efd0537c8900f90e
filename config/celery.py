import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _forget_cached_content_types(**kwargs):
    # A worker lives for days; the content-type ids it cached (the audit trail writes them) are read afresh
    # for each task, so a database restored or re-created under it (the test suite flushes between tests)
    # never gets a stale id. The cost is one small query per model a task audits.
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
