"""Settings for pytest. The database and Redis come from the environment that `make test` sets up."""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-only-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only

# The Celery worker that tests start writes e-mails here so the test process can read them.
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=None)
EMAIL_BACKEND = (
    "django.core.mail.backends.filebased.EmailBackend"
    if EMAIL_FILE_PATH
    else "django.core.mail.backends.locmem.EmailBackend"
)
# Files on disk, not in memory: the Celery worker that tests start is another process, and it must read
# what a test stored (a job's input) and store what the test then reads (a job's result). The root
# conftest.py points MEDIA_ROOT and PRIVATE_ROOT at folders of the pytest run and passes them to the
# worker; these defaults only keep a stray test run away from .local/.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(Path(tempfile.gettempdir()) / "shop-test-media"))
PRIVATE_ROOT = env.path("PRIVATE_ROOT", default=str(Path(tempfile.gettempdir()) / "shop-test-private"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# No collectstatic in tests: serve from the finders, as in development.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
