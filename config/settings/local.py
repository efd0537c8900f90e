"""Local development (`make run`): debug on, console e-mail, any localhost name."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="local-only-insecure-key-do-not-use-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "0.0.0.0"])  # noqa: S104

# The trivial one-INSERT view that `manage.py benchmark_booking_http` compares the booking with is routed
# only when this is on (config/urls.py); the benchmark turns it on for the server it starts. Production
# settings do not define it.
BENCHMARK_VIEWS = env.bool("BENCHMARK_VIEWS", default=False)
