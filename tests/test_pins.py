"""constraints.txt pins the environment everywhere dlgrade is installed (make setup, the Gradescope image): every
pin must install on every Python that pyproject.toml admits. (soupsieve 4.1.2 needs Python >= 3.11.5: on Debian
bookworm's 3.11.2 pip backtracked into torch's CUDA build and gave up, and the Gradescope image did not build.)"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _oldest_supported_python() -> Version:
    claimed = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    return min(v for v in (Version(f"3.{minor}.0") for minor in range(8, 20)) if v in claimed)


def test_every_installed_pin_supports_the_oldest_python_we_claim() -> None:
    oldest = _oldest_supported_python()
    checked, refused = 0, []
    for name, version in _pins().items():
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # pinned for an extra this environment does not install
        assert Version(distribution.version).public == Version(version).public, f"{name}: installed differs from pin"
        needs = distribution.metadata.get("Requires-Python")
        checked += 1
        if needs and oldest not in SpecifierSet(needs):
            refused.append(f"{name}=={version} needs Python {needs}")
    assert checked > 50
    assert not refused, f"pins that do not install on Python {oldest}: {refused}"
