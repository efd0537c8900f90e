"""Settings shared by every environment. Values that differ come from the environment (django-environ)."""

from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Absolute base URL used in e-mails (verification and password-reset links are built in the request,
# this is the fallback for jobs that have no request).
SITE_URL = env("SITE_URL", default="http://localhost:8000")
SHOP_NAME = env("SHOP_NAME", default="デモ店舗")

INSTALLED_APPS = [
    "core.admin_site.ShopAdminConfig",  # django.contrib.admin, its menu grouped by the day's work
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "axes",
    "import_export",
    # ours, in dependency order (a lower app never imports a higher one)
    "core",
    "members",
    "inventory",
    "payments",
    "tickets",
    "points",
    "promotions",
    "plans",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # the Content-Security-Policy header on every page (static files, served above, need none)
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.middleware.ShopLocaleMiddleware",
    # before anything that queries the database (the session, the user, any view): PostgreSQL refuses NUL
    "core.guards.RefuseNulMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # the request in a context variable, for checks deep in a form field (promotions' coupon-code throttle)
    "core.request_context.RequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # axes must be last: it turns a lockout raised during authentication into the lockout page
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.shop",
            ],
        },
    },
]


def _database_from_env() -> dict:
    config = env.db_url("DATABASE_URL", default="postgres://postgres@localhost:5432/shop")
    # postgres://user@/db?host=/path/to/socket-dir is how a unix socket is named in a URL;
    # django-environ leaves it in OPTIONS, Django wants it in HOST.
    options = config.setdefault("OPTIONS", {})
    if "host" in options and not config.get("HOST"):
        config["HOST"] = options.pop("host")
    config["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": _database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://localhost:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "shop",
    }
}

AUTH_USER_MODEL = "members.Member"
AUTHENTICATION_BACKENDS = [
    # axes first: it refuses a locked-out user before any password is checked
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "members:login"
LOGIN_REDIRECT_URL = "members:mypage"
LOGOUT_REDIRECT_URL = "site:home"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24  # 1 day; also the lifetime of an e-mail verification link

# Login throttling (django-axes): after 5 failures for the same account from the same address the
# account is locked for that address for one hour; a successful login resets the count.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "site/members/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
# One counter per account whatever the case or width the address is typed in (NFKC, lower case): the
# same normalisation as authentication and sign-up (members/normalise.py; issue 12, item 2).
AXES_USERNAME_CALLABLE = "members.normalise.axes_username"

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".local" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / ".local" / "media")
# Job files (CSV imports, exports, error files: member and business data) live here, outside MEDIA_ROOT,
# and are served by no URL of their own: staff download them through the job-history view (core.storage).
PRIVATE_ROOT = env.path("PRIVATE_ROOT", default=BASE_DIR / ".local" / "private")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="shop@example.com")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Stripe (card payments). Without a secret key the clearly labelled test gateway takes card payments;
# production settings refuse to start that way.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")  # tests point the official client at a local double
# Card payment for bookings (the checkout: test gateway now, Stripe Checkout next).
PAYMENTS_CARD_CHECKOUT = env.bool("PAYMENTS_CARD_CHECKOUT", default=True)


def _inline_style_hashes(template: str) -> list[str]:
    """CSP hash sources for the inline <style> blocks of one of Django's own templates, read from the
    installed Django, so they follow its version. Django's change list without action bars has one (a column
    width); the hash lets exactly that block through, where 'unsafe-inline' would let any through."""
    import base64
    import hashlib
    import re

    import django

    text = (Path(django.__file__).parent / template).read_text(encoding="utf-8")
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()}'"
        for css in re.findall(r"<style>(.*?)</style>", text, flags=re.DOTALL)
    ]


# Content-Security-Policy (django-csp), in every environment so the tests and the browser tests run under
# it: scripts and styles from our own origin only (static files; Chart.js is vendored), no inline code
# except a block carrying the page's nonce ({{ request.csp_nonce }}), no plugins, no framing, and forms
# post only to us, or are redirected to Stripe Checkout (form-action also governs the redirect a POST
# answers with: "pay" → checkout.stripe.com).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": [
            "'self'",
            NONCE,
            *_inline_style_hashes("contrib/admin/templates/admin/change_list.html"),
        ],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", "https://checkout.stripe.com"],
    },
}

# Celery: Redis is the broker; nothing reads task results, so none are stored.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="shop")
# One static, reviewable schedule (ARCHITECTURE.md), in Tokyo time (CELERY_TIMEZONE). Later issues add the
# monthly grants and point expiry here.
CELERY_BEAT_SCHEDULE: dict = {
    # 00:15 JST: a ticket valid through yesterday expires (SPEC §2: valid until 23:59:59.999999 JST). The
    # job catches up on any day it missed, so a beat that was down loses nothing.
    "expire-tickets": {
        "task": "tickets.tasks.expire_tickets",
        "schedule": crontab(hour=0, minute=15),
    },
    # 00:30 JST: points valid through yesterday expire (SPEC §8), one entry per lot or balance; the job
    # catches up on days it missed and runs once per day however often it is started.
    "expire-points": {
        "task": "points.tasks.expire_points",
        "schedule": crontab(hour=0, minute=30),
    },
    "clear-expired-sessions": {
        "task": "core.tasks.clear_expired_sessions",
        "schedule": 60 * 60 * 24,
    },
    "sweep-stale-jobs": {
        "task": "core.tasks.sweep_stale_jobs",
        "schedule": 60 * 10,
    },
    # Refunds and card payments left created / pending (a crash between our commit and Stripe's answer, a
    # webhook that never came) are settled against Stripe.
    "reconcile-payments": {
        "task": "payments.tasks.reconcile_payments",
        "schedule": 60 * 10,
    },
    "release-unpaid-reservations": {
        "task": "inventory.tasks.release_unpaid_reservations",
        "schedule": 60 * 5,
    },
    # Bookings awaiting approval (承認制) past their deadline are declined, the member e-mailed.
    "decline-overdue-approvals": {
        "task": "inventory.tasks.decline_overdue_approvals",
        "schedule": 60 * 5,
    },
    # 00:05 JST on the 1st: plans' monthly and carry-over ticket grants for the month (Tokyo date), once per
    # contract, rule and month; a month missed while beat was down is granted by the next run.
    "grant-monthly-tickets": {
        "task": "plans.tasks.grant_monthly_tickets",
        "schedule": crontab(day_of_month=1, hour=0, minute=5),
    },
    # 00:10 JST on the 1st: the month's pending counter orders of plan contracts paid at the counter (once
    # per contract and month; last month's too, if a run was missed).
    "plan-counter-orders": {
        "task": "plans.tasks.plan_counter_orders",
        "schedule": crontab(day_of_month=1, hour=0, minute=10),
    },
    # 04:00 JST daily: Stripe's price switch of each plan change whose first billed 1st is the next 1st (a
    # staff change dated months ahead). After 00:00 so the 1st's invoices (old price) are already made;
    # a refused switch is retried the next day.
    "switch-plan-prices": {
        "task": "plans.tasks.switch_plan_prices",
        "schedule": crontab(hour=4, minute=0),
    },
    # 00:20 JST daily: contracts without a Stripe subscription (paid at the counter) whose end date has
    # passed are marked ended (a subscription's own end arrives by webhook).
    "end-past-contracts": {
        "task": "plans.tasks.end_past_contracts",
        "schedule": crontab(hour=0, minute=20),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
