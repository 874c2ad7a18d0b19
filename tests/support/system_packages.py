"""Install the system tools the tests run for real (redis-server, PostgreSQL, docker-compose's validator,
Chromium for the pages' browser tests).

Why: tests never skip because a service is absent, and a fresh machine has
neither binary. Debian's packages are the one source we may use; this module
installs them through apt-get when missing and is idempotent.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

PACKAGES = {"redis-server": "redis-server", "initdb": "postgresql", "docker-compose": "docker-compose",
            "chromium": "chromium", "libpangoft2-1.0.so.0": "libpangoft2-1.0-0"}


def postgres_bindir() -> str | None:
    """Directory holding initdb/pg_ctl (Debian keeps them off PATH)."""
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(os.path.realpath(found))
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return os.path.dirname(dirs[0]) if dirs else None


def _present(binary: str) -> bool:
    if binary == "initdb":
        return postgres_bindir() is not None
    if ".so" in binary:  # a shared library (WeasyPrint's pango), not a program
        return bool(glob.glob(f"/usr/lib/*/{binary}") or glob.glob(f"/usr/lib/{binary}"))
    return shutil.which(binary) is not None


def ensure(*binaries: str) -> None:
    """Install the Debian package of every missing binary (needs root, as on CI)."""
    missing = [PACKAGES[b] for b in binaries if not _present(b)]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )


if __name__ == "__main__":
    ensure(*(sys.argv[1:] or PACKAGES))
