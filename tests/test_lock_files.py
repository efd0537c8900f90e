"""The production image installs requirements/base.lock and developers requirements/dev.lock; a package in
both must be pinned to the same version, or tests would pass on versions production does not run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s\\;]+)", re.MULTILINE)


def _pins(name: str) -> dict[str, str]:
    return {
        package.lower(): version
        for package, version in PIN.findall((ROOT / "requirements" / name).read_text())
    }


def test_dev_lock_pins_every_production_package_at_the_same_version():
    base, dev = _pins("base.lock"), _pins("dev.lock")
    assert "django" in base
    assert base.items() <= dev.items(), {
        name: (v, dev.get(name)) for name, v in base.items() if dev.get(name) != v
    }


def test_lock_files_carry_hashes():
    for name in ("base.lock", "dev.lock"):
        text = (ROOT / "requirements" / name).read_text()
        assert text.count("==") == len(_pins(name))
        assert text.count("--hash=sha256:") >= len(_pins(name)), f"{name} lacks hashes"
