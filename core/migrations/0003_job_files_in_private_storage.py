"""Job files move from MEDIA_ROOT to private storage (PRIVATE_ROOT, core.storage), keeping their names
(jobs/YYYY/MM/<id>/<role>/<file>), so existing job rows keep working. Run where both folders are mounted
(docker-compose.yml mounts both into web, which migrates); a file already moved, or missing, is left as it
is, so the migration can be run again."""

import shutil
from pathlib import Path

from django.conf import settings
from django.db import migrations, models

import core.models
import core.storage

FILE_FIELDS = ("input_file", "result_file", "error_file")


def _move(apps, source: Path, target: Path) -> None:
    Job = apps.get_model("core", "Job")
    for names in Job.objects.values_list(*FILE_FIELDS).iterator():
        for name in filter(None, names):
            _move_file(source / name, target / name)
    # Ticket CSV uploads waiting for their Import (core.csv_jobs.PENDING_DIR, then tickets.admin_csv) have no job row yet.
    pending = source / "jobs" / "pending"
    if pending.is_dir():
        for old in pending.iterdir():
            _move_file(old, target / "jobs" / "pending" / old.name)
    # Leave no empty jobs/… folders behind in the old place.
    old_jobs = source / "jobs"
    if old_jobs.is_dir():
        for folder in sorted((path for path in old_jobs.rglob("*") if path.is_dir()), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()
        if not any(old_jobs.iterdir()):
            old_jobs.rmdir()


def _move_file(old: Path, new: Path) -> None:
    if old.is_file() and not new.exists():
        new.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(old, new)


def to_private_storage(apps, schema_editor):
    _move(apps, Path(settings.MEDIA_ROOT), Path(settings.PRIVATE_ROOT))


def to_media_root(apps, schema_editor):
    _move(apps, Path(settings.PRIVATE_ROOT), Path(settings.MEDIA_ROOT))


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_audit_entries"),
    ]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="error_file",
            field=models.FileField(
                blank=True,
                max_length=255,
                storage=core.storage.PrivateStorage(),
                upload_to=core.models.job_error_path,
                verbose_name="error file",
            ),
        ),
        migrations.AlterField(
            model_name="job",
            name="input_file",
            field=models.FileField(
                blank=True,
                max_length=255,
                storage=core.storage.PrivateStorage(),
                upload_to=core.models.job_input_path,
                verbose_name="input file",
            ),
        ),
        migrations.AlterField(
            model_name="job",
            name="result_file",
            field=models.FileField(
                blank=True,
                max_length=255,
                storage=core.storage.PrivateStorage(),
                upload_to=core.models.job_result_path,
                verbose_name="result file",
            ),
        ),
        migrations.RunPython(to_private_storage, to_media_root, elidable=True),
    ]
