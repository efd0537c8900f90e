"""Load the demo data every app contributes. Safe to run any number of times (it never duplicates).

Each app that has demo data provides `<app>/demo.py` with `load(stdout) -> None`; apps are loaded in
INSTALLED_APPS order, which is the dependency order, so a higher app can use what a lower one made.
"""

from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Create or update the demo stores, staff login and members (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            for config in apps.get_app_configs():
                module_name = f"{config.name}.demo"
                if find_spec(module_name) is None:
                    continue
                import_module(module_name).load(self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data is ready."))
