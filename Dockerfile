# syntax=docker/dockerfile:1
# The production image: gunicorn serves the site, the same image runs the Celery worker and beat
# (docker-compose.yml). Static files and translations are built in, so containers start read-only.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/app/media \
    PRIVATE_ROOT=/app/private

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not reinstall them. The lock pins every
# package with hashes (`make lock`); psycopg[binary] ships its own libpq, so no system packages are needed.
COPY requirements/base.lock requirements/base.lock
RUN pip install --require-hashes -r requirements/base.lock

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

COPY . .

# Production settings refuse to load without their secrets; collectstatic needs none of them, so these
# throwaway values exist only inside this RUN step and never reach the image's environment.
RUN python scripts/compile_messages.py \
    && SECRET_KEY=build-time-only-not-a-secret \
       ALLOWED_HOSTS=localhost \
       DATABASE_URL=postgres://build@localhost:5432/build \
       STRIPE_SECRET_KEY=build-time-only STRIPE_WEBHOOK_SECRET=build-time-only \
       python manage.py collectstatic --noinput \
    && mkdir -p /app/media /app/private \
    && chown app:app /app/media /app/private

USER app
EXPOSE 8000

# Worker count: gunicorn reads WEB_CONCURRENCY (default 1); set it in .env.
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "--error-logfile", "-"]
