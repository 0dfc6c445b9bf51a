"""The container image, built for real with podman (`--isolation chroot`, vfs storage)
from a Debian bookworm base made locally with debootstrap (tests/image/make_base.sh; the
base is cached in /var/tmp/schemaflow-image-cache so only the first run pays for it).
Inside the image (`buildah run --isolation chroot`): `schemaflow --help`, and
`schemaflow migrate status` against a PostgreSQL on the host; the user is not root; the
image stays within its size budget with no build tooling in it.

The build needs the machine's HTTPS proxy CA for pip. It is passed in at build time only,
as read-only volumes (never in the Dockerfile, never in a layer): the host CA bundle at
/run/build-ca.pem and a pip.conf pointing at it.

Expect about 1-3 minutes with a warm base (first run: plus ~30 s of debootstrap).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SCHEMAFLOW_IMAGE_CACHE", "/var/tmp/schemaflow-image-cache"))
STORE = ["--root", str(CACHE / "storage"), "--runroot", str(CACHE / "run"),
         "--storage-driver", "vfs"]
BASE = "localhost/schemaflow-base:bookworm"
IMAGE = "localhost/schemaflow:test"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
APT_CONF = Path("/etc/apt/apt.conf.d/99artifact-registry")  # this machine's apt settings

# the module-scoped build counts against the first test's timeout
pytestmark = pytest.mark.timeout(1800)


def sh(*cmd: str, timeout: float = 120, check: bool = True, **kw) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def tooling_or_skip() -> None:
    missing = [t for t in ("podman", "buildah", "debootstrap") if shutil.which(t) is None]
    if missing and os.geteuid() == 0:
        sh("bash", str(REPO / "scripts" / "tools.sh"), timeout=900)
        missing = [t for t in ("podman", "buildah", "debootstrap") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"image tooling unavailable: {', '.join(missing)} (install as root: "
                    "scripts/tools.sh); the image was NOT tested")
    if os.geteuid() != 0:
        pytest.skip("podman --isolation chroot with vfs storage needs root here; the image was "
                    "NOT tested")


@pytest.fixture(scope="module")
def image() -> Iterator[dict]:
    tooling_or_skip()
    t0 = time.monotonic()
    sh("bash", str(REPO / "tests" / "image" / "make_base.sh"), timeout=900)
    base_seconds = time.monotonic() - t0
    conf = CACHE / "build-conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "pip.conf").write_text("[global]\ncert = /run/build-ca.pem\n")
    volumes = ["-v", f"{HOST_CA}:/run/build-ca.pem:ro", "-v", f"{conf / 'pip.conf'}:/etc/pip.conf:ro"]
    if APT_CONF.exists():
        volumes += ["-v", f"{APT_CONF}:/etc/apt/apt.conf.d/99build:ro"]
    revision = sh("git", "rev-parse", "HEAD", cwd=REPO, check=False).stdout.strip() or "unknown"
    t1 = time.monotonic()
    sh("podman", *STORE, "build", "--isolation", "chroot", "--layers",
       "--build-arg", f"BASE_IMAGE={BASE}", "--build-arg", f"REVISION={revision}",
       "--build-arg", f"CREATED={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
       *volumes, "-t", IMAGE, "-f", str(REPO / "Dockerfile"), str(REPO), timeout=1800)
    build_seconds = time.monotonic() - t1
    # vfs keeps a full copy per layer: drop build leftovers older than a day (recent ones
    # are the layer cache of the next run)
    sh("podman", *STORE, "image", "prune", "-f", "--filter", "until=24h", check=False)
    (inspect,) = json.loads(sh("podman", *STORE, "image", "inspect", IMAGE).stdout)
    ctr = sh("buildah", *STORE, "from", "--pull-never", IMAGE).stdout.strip()
    info = {"inspect": inspect, "container": ctr, "build_seconds": build_seconds,
            "base_seconds": base_seconds}
    (CACHE / "last-build.json").write_text(json.dumps(
        {"build_seconds": round(build_seconds, 1), "base_seconds": round(base_seconds, 1),
         "size_bytes": inspect.get("Size")}))
    print(f"\nimage built in {build_seconds:.0f}s (base {base_seconds:.0f}s), "
          f"{inspect.get('Size', 0) / 1e6:.0f} MB")
    try:
        yield info
    finally:
        sh("buildah", *STORE, "rm", ctr, check=False)


def run_in(image: dict, *cmd: str, env: dict[str, str] | None = None,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    envs = [a for k, v in (env or {}).items() for a in ("--env", f"{k}={v}")]
    return sh("buildah", *STORE, "run", "--isolation", "chroot", "--network", "host", *envs,
              image["container"], "--", *cmd, check=check, timeout=180)


def test_image_config(image: dict) -> None:
    cfg = image["inspect"]["Config"]
    user = cfg["User"]
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) > 0, user  # numeric, non-root
    assert cfg["Entrypoint"] == ["schemaflow"]
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["SCHEMAFLOW_SQL_DIR"] == "/opt/schemaflow/sql"
    labels = cfg["Labels"]
    for key in ("title", "description", "source", "licenses", "version", "revision", "created",
                "base.name"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.base.name"] == BASE


def test_runs_as_non_root(image: dict) -> None:
    out = run_in(image, "id").stdout
    assert out.startswith("uid=65532(schemaflow) gid=65532(schemaflow)"), out
    # the application files are not writable by that user
    assert run_in(image, "touch", "/opt/schemaflow/sql/x", check=False).returncode != 0


def test_help_runs(image: dict) -> None:
    out = run_in(image, "schemaflow", "--help").stdout
    for sub in ("migrate", "operator", "wait"):
        assert sub in out
    assert run_in(image, "schemaflow", "--version").stdout.startswith("schemaflow ")


def test_sql_is_bundled(image: dict) -> None:
    listed = set(run_in(image, "ls", "/opt/schemaflow/sql/migrations").stdout.split())
    assert listed == {p.name for p in (REPO / "sql" / "migrations").iterdir()}
    assert listed, "no migrations bundled"


def test_migrate_status_against_a_host_database(image: dict, db18) -> None:
    out = run_in(image, "schemaflow", "migrate", "status", "--dir",
                 "/opt/schemaflow/sql/migrations", "--output", "json",
                 env={"DATABASE_URL": db18.url})
    doc = json.loads(out.stdout)
    assert doc, out
    assert db18.server.password not in out.stdout + out.stderr


def test_no_build_secret_left_in_the_image(image: dict) -> None:
    """The CA and pip.conf were read-only volumes: podman leaves their mount points behind
    as EMPTY files, nothing of their content; and no locally added CA is in the image's
    trust store."""
    for path in ("/etc/pip.conf", "/run/build-ca.pem", "/etc/apt/apt.conf.d/99build"):
        size = run_in(image, "sh", "-c", f"[ ! -e {path} ] || wc -c < {path}").stdout.strip()
        assert size in ("", "0"), f"{path} has content in the image"
    bundle = run_in(image, "cat", "/etc/ssl/certs/ca-certificates.crt").stdout
    for local in Path("/usr/local/share/ca-certificates").rglob("*.crt"):
        body = "".join(local.read_text().split("-----")[2].split())  # base64 of the cert
        assert body[:200] not in "".join(bundle.split()), f"{local.name} was baked in"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "build-ca" not in dockerfile and "pip.conf" not in dockerfile


MAX_IMAGE_BYTES = 150 * 1000 * 1000  # the size budget of the image (docs/performance.md)


def test_image_is_small_and_holds_no_build_tooling(image: dict) -> None:
    """Within the size budget, with no compiler, no pip/setuptools, no pip or apt cache and
    no kubernetes asyncio client (the Dockerfile drops it: nothing imports it)."""
    assert image["inspect"]["Size"] <= MAX_IMAGE_BYTES, image["inspect"]["Size"]
    found = run_in(image, "sh", "-c",
                   "for f in /usr/bin/gcc /usr/bin/cc /usr/bin/make /opt/schemaflow/venv/bin/pip "
                   "/root/.cache/pip /var/cache/apt/archives/partial /opt/schemaflow/venv/lib/"
                   "python3.11/site-packages/kubernetes/aio; do [ -e $f ] && echo $f; done; "
                   "ls /var/lib/apt/lists; true").stdout.split()
    assert found == [], found
    # every entry point still starts: the operator and wait import kubernetes and kopf
    for sub in (["operator", "--help"], ["wait", "--help"], ["migrate", "--help"]):
        assert run_in(image, "schemaflow", *sub).returncode == 0, sub
    run_in(image, "python3", "-c", "import kubernetes.client, kubernetes.config, kopf, psycopg; "
           "from schemaflow.crd import crd_document; crd_document()")
