"""Container images with podman: host setup, base image, wheelhouse, builds, and the container check.

    python -m shop_deploycheck.containers build [IMAGE ...]   # `make images`
    python -m shop_deploycheck.containers check [SERVICE ...] # `make images-check`

`build` prepares what it needs, once and idempotently: podman, runc and debootstrap from Debian
when missing (as root), /etc/containers/containers.conf when absent, and a base image. The base
is `python:3.11-slim` when a registry answers; on machines without one it is
`localhost/debian-python:bookworm`, a Debian minbase with Python made by debootstrap (the root
filesystem tarball is kept in build/base/ so later builds import it in seconds). BASE_IMAGE in the
environment chooses the base explicitly.

The wheelhouse (build/wheelhouse) holds a wheel of every first-party package (built from a fresh
sdist, with SOURCE_DATE_EPOCH so that unchanged sources give identical wheels and the layer cache
holds) and of every third-party package the images need, at the version pinned in
requirements/constraints.txt (downloaded once; later builds need no network).

`check` renders the chart's defaults and runs each Deployment's container with podman the way the
pod runs it (its command, args and resolved environment; read-only root, its user, /tmp as tmpfs,
no capabilities, its memory limit; its certificate Secret as a read-only bind mount of a local
CA's files, see `localtls`) against a local PostgreSQL and NATS: migration Job first, then the
server until its startup probe answers SERVING on the plain-text health port (see `localrun`);
then the chart's `helm test` Pods of those services, each in its own container the same way (its
image, command and args with the Service address made local, its certificate, user, read-only
root, /tmp tmpfs): exit 0 and SERVING / 200 over mutual TLS.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from shop_deploycheck.localrun import LocalRun, Outcome
from shop_deploycheck.localtls import issue_local_identities
from shop_deploycheck.otlpsink import otlp_sink
from shop_deploycheck.render import CHART, render
from shop_deploycheck.workloads import Container, LocalEnvironment, Workload, helm_test_pods

REPO = CHART.parents[1]
BUILD_DIR = REPO / "build"
WHEELHOUSE = BUILD_DIR / "wheelhouse"
BASE_CACHE = BUILD_DIR / "base"
CONSTRAINTS = REPO / "requirements" / "constraints.txt"
DOCKERFILE = REPO / "Dockerfile"

SERVICES = (
    "catalog",
    "pricing",
    "cart",
    "checkout",
    "inventory",
    "order",
    "fraud",
    "notifications",
    "customers",
    "gateway",
    "sandbox",
)
IMAGES = (*SERVICES, "loadtests")
FIRST_PARTY = ("libs/protos", "libs/kit", "libs/payments", *(f"services/{s}" for s in SERVICES))
# What the images install besides the first-party packages (uv installs the wheels in the build).
EXTRA_ROOTS = ("locust", "uv")

REGISTRY_BASE = "docker.io/library/python:3.11-slim"
LOCAL_BASE = "localhost/debian-python:bookworm"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_PACKAGES = ("python3", "ca-certificates")
CONTAINERS_CONF = Path("/etc/containers/containers.conf")
# Debian's podman on these hosts: crun fails on the hybrid cgroup hierarchy, and the default
# rlimits are refused, so runc and explicit ulimits.
CONTAINERS_CONF_TEXT = """\
# Written by `make images` (shop_deploycheck.containers): runc, and ulimits the kernel accepts.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
[engine.runtimes]
runc = ["/usr/sbin/runc"]
"""
# Where the container sees the PostgreSQL server's unix socket (bind-mounted from the host).
CONTAINER_PG_SOCKET_DIR = "/run/postgresql"


def log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def run(argv: Sequence[str], env: Mapping[str, str] | None = None, quiet: bool = False) -> None:
    """Run a command; it must succeed. `quiet` drops its standard output."""
    subprocess.run(list(argv), check=True, env=env, stdout=subprocess.DEVNULL if quiet else None)


# --- host setup ------------------------------------------------------------------------------


def ensure_host_tools(tools: Collection[str] = ("podman", "runc")) -> None:
    """Install missing tools from Debian's archive (root only), then containers.conf if absent."""
    missing = [tool for tool in tools if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()]
    if missing:
        if os.geteuid() != 0:
            raise SystemExit(f"missing {', '.join(missing)}: install them (apt-get install {' '.join(missing)})")
        log(f"installing {' '.join(missing)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", *missing]  # the Debian packages have the tools' names
        if subprocess.run(install, env=env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
            run(["apt-get", "update", "-qq"], env=env)  # a fresh machine has no package lists yet
            run(install, env=env, quiet=True)
    if "podman" in tools and not CONTAINERS_CONF.exists() and os.geteuid() == 0:
        CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
        CONTAINERS_CONF.write_text(CONTAINERS_CONF_TEXT)
        log(f"wrote {CONTAINERS_CONF}")


def podman(*args: str, capture: bool = False, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], check=check, text=True, capture_output=capture)


def image_exists(reference: str) -> bool:
    return podman("image", "exists", reference, check=False).returncode == 0


def base_image() -> str:
    """The base image to build on: BASE_IMAGE, else the registry's python:3.11-slim when it can
    be pulled, else the local Debian image (made when missing)."""
    requested = os.environ.get("BASE_IMAGE", "")
    if requested:
        if not image_exists(requested):
            podman("pull", "-q", requested)
        return requested
    if image_exists(REGISTRY_BASE):
        return REGISTRY_BASE
    if image_exists(LOCAL_BASE):
        return LOCAL_BASE
    pull = subprocess.run(["timeout", "120", "podman", "pull", "-q", REGISTRY_BASE], capture_output=True, text=True)
    if pull.returncode == 0:
        return REGISTRY_BASE
    reason = (pull.stderr.strip().splitlines() or ["timed out"])[-1]
    log(f"cannot pull {REGISTRY_BASE} ({reason}): using {LOCAL_BASE}")
    import_local_base()
    return LOCAL_BASE


def import_local_base() -> None:
    """Import the Debian minbase + Python root filesystem, debootstrapping it first if not cached."""
    tarball = BASE_CACHE / f"debian-python-{DEBIAN_SUITE}.tar"
    if not tarball.exists():
        ensure_host_tools(("debootstrap",))
        started = time.monotonic()
        BASE_CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=BASE_CACHE) as scratch:
            rootfs = Path(scratch) / "rootfs"
            log(f"debootstrap {DEBIAN_SUITE} (about a minute)")
            run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(DEBOOTSTRAP_PACKAGES)}",
                    DEBIAN_SUITE,
                    str(rootfs),
                    DEBIAN_MIRROR,
                ],
                quiet=True,
            )
            # Package caches, indexes and documentation have no place in a runtime image.
            for pattern in (
                "var/cache/apt/*.bin",
                "var/cache/apt/archives/*.deb",
                "var/lib/apt/lists/*",
                "usr/share/doc/*",
                "usr/share/man/*",
                "usr/share/info/*",
                "usr/share/locale/*",
                "var/log/*",
            ):
                for path in rootfs.glob(pattern):
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    elif path.name != "lock":
                        path.unlink()
            partial = tarball.with_suffix(".partial")
            run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."])
            partial.rename(tarball)
        log(f"base root filesystem in {time.monotonic() - started:.0f} s: {tarball}")
    podman(
        "import",
        "--quiet",
        "--change",
        'CMD ["/usr/bin/python3"]',
        "--change",
        "ENV LANG=C.UTF-8",
        str(tarball),
        LOCAL_BASE,
        capture=True,
    )


# --- wheelhouse ------------------------------------------------------------------------------


def read_pins(path: Path = CONSTRAINTS) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.strip()
    return pins


def runtime_closure(roots: Sequence[str]) -> set[str]:
    """Names of every distribution the roots need at run time (extras followed, markers evaluated
    for this interpreter), from the metadata of this environment's installed packages."""
    found: set[str] = set()
    pending: list[tuple[str, frozenset[str]]] = [(root, frozenset()) for root in roots]
    visited: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        key = (canonicalize_name(name), extras)
        if key in visited:
            continue
        visited.add(key)
        found.add(key[0])
        for line in importlib.metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
                pending.append((requirement.name, frozenset(requirement.extras)))
    return found


def first_party_names() -> list[str]:
    names: list[str] = []
    for folder in FIRST_PARTY:
        text = (REPO / folder / "pyproject.toml").read_text()
        match = re.search(r'^name\s*=\s*"([^"]+)"', text, re.MULTILINE)
        if match is None:
            raise SystemExit(f"{folder}/pyproject.toml names no project")
        names.append(canonicalize_name(match[1]))
    return names


def git(*args: str) -> str:
    """Output of a git command in the repository ("" outside a checkout)."""
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def source_date_epoch() -> str:
    """The last commit's time: unchanged sources then build byte-identical wheels."""
    return git("log", "-1", "--format=%ct") or "315532800"


def missing_data_files(folder: Path, wheel: Path) -> list[str]:
    """Files of the package's migrations/ folders that its wheel does not hold."""
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    missing = []
    for migrations in (folder / "src").glob("*/migrations"):
        for path in migrations.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                member = path.relative_to(folder / "src").as_posix()
                if member not in shipped:
                    missing.append(member)
    return sorted(missing)


def build_first_party(out: Path) -> None:
    """A wheel of every first-party package, each from a fresh sdist (so a wheel holds only what
    the sdist ships: migrations included, stale build folders never)."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": source_date_epoch()}
    uv = Path(sys.executable).parent / "uv"
    for stale in out.glob("shop_*"):
        stale.unlink()

    def build(folder: str) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            build_wheel = ["build", "--quiet", "--python", sys.executable, "--no-build-isolation", "--out-dir", scratch]
            run([str(uv), *build_wheel, str(REPO / folder)], env=env)
            for wheel in Path(scratch).glob("*.whl"):
                missing = missing_data_files(REPO / folder, wheel)
                if missing:
                    raise SystemExit(f"{wheel.name} lacks {', '.join(missing)}: check its package data")
                shutil.move(str(wheel), out / wheel.name)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(build, FIRST_PARTY))


def fetch_third_party(out: Path, names: Collection[str], pins: Mapping[str, str]) -> None:
    """Download the pinned wheel of each name that the wheelhouse lacks; remove any other."""
    unpinned = sorted(n for n in names if n not in pins)
    if unpinned:
        raise SystemExit(f"not pinned in {CONSTRAINTS.relative_to(REPO)}: {', '.join(unpinned)}")
    present = {}
    for wheel in out.glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        if name.startswith("shop-"):
            continue
        if name in names and str(version) == pins[name]:
            present[name] = wheel
        else:
            wheel.unlink()
    missing = sorted(f"{n}=={pins[n]}" for n in names if n not in present)
    if not missing:
        return
    log(f"downloading {len(missing)} pinned wheels")
    chunks = [missing[i::6] for i in range(6)]

    def download(chunk: list[str]) -> None:
        if chunk:
            run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                 "--only-binary=:all:", "--dest", str(out), *chunk],
            )  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        list(pool.map(download, chunks))


def requirements_file(path: Path, names: Collection[str], pins: Mapping[str, str]) -> None:
    """A pinned requirements file of third-party names (what an install stage installs first)."""
    text = "".join(f"{name}=={pins[name]}\n" for name in sorted(names))
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def wheelhouse() -> Path:
    """build/wheelhouse: pypi/ (pinned third-party wheels), shop/ (first-party wheels), and
    kit.txt / loadtests.txt: the pinned third-party packages under the service kit and under the
    load tests, installed as layers of their own that change only when the pins do."""
    started = time.monotonic()
    pypi, shop = WHEELHOUSE / "pypi", WHEELHOUSE / "shop"
    pypi.mkdir(parents=True, exist_ok=True)
    shop.mkdir(parents=True, exist_ok=True)
    pins = read_pins()
    first_party = set(first_party_names())
    fetch_third_party(pypi, runtime_closure([*first_party, *EXTRA_ROOTS]) - first_party, pins)
    requirements_file(WHEELHOUSE / "kit.txt", runtime_closure(["shop-kit"]) - first_party, pins)
    requirements_file(WHEELHOUSE / "loadtests.txt", runtime_closure(["locust", "shop-protos"]) - first_party, pins)
    build_first_party(shop)
    wheels = len(list(WHEELHOUSE.glob("*/*.whl")))
    log(f"wheelhouse ready in {time.monotonic() - started:.0f} s ({wheels} wheels)")
    return WHEELHOUSE


# --- images ----------------------------------------------------------------------------------


def chart_app_version() -> str:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return str(chart["appVersion"])


def image_reference(image: str, tag: str | None = None, registry: str = "localhost") -> str:
    """localhost/shop-<image>:<tag> — what the chart's defaults pull (image.registry, image.prefix)."""
    return f"{registry}/shop-{image}:{tag or chart_app_version()}"


@dataclass
class Built:
    image: str
    reference: str
    seconds: float
    size_bytes: int
    own_layer_bytes: int  # the top layer: what this image adds to the layers it shares


def build_images(images: Sequence[str], tag: str | None = None) -> list[Built]:
    ensure_host_tools()
    base = base_image()
    wheelhouse()
    revision = git("rev-parse", "HEAD") or "unknown"
    created = git("log", "-1", "--format=%cI")
    built = []
    for image in images:
        reference = image_reference(image, tag)
        started = time.monotonic()
        podman(
            "build",
            "--quiet",
            "--layers",
            "--file",
            str(DOCKERFILE),
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--build-arg",
            f"SERVICE={image}",
            "--build-arg",
            f"VERSION={tag or chart_app_version()}",
            "--build-arg",
            f"REVISION={revision}",
            "--build-arg",
            f"CREATED={created}",
            "--tag",
            reference,
            str(REPO),
            capture=True,
        )
        size = int(podman("image", "inspect", "--format", "{{.Size}}", reference, capture=True).stdout.strip())
        history = json.loads(podman("history", "--format", "json", reference, capture=True).stdout)
        own = next((int(entry["size"]) for entry in history if entry.get("size")), 0)
        built.append(Built(image, reference, round(time.monotonic() - started, 1), size, own))
        log(f"{reference}: {size / 1e6:.0f} MB (own layer {own / 1e6:.1f} MB) in {built[-1].seconds:.0f} s")
    return built


# --- the container check ---------------------------------------------------------------------


@dataclass
class PodmanLauncher:
    """`podman run` of a pod's container: its image, entrypoint and args, its environment, its
    user, a read-only root with /tmp (its emptyDir) as the only writable place, no capabilities,
    its memory limit; host network (ports are the local ones of `LocalEnvironment`), the
    PostgreSQL socket and its secret volumes (local certificates, `localtls`) bind-mounted."""

    pg_socket: Path | None = None  # the PostgreSQL server's unix socket file on the host

    def command(
        self,
        workload: Workload,
        container: Container,
        argv: Sequence[str],
        env: Mapping[str, str],
        name: str,
        mounts: Mapping[str, Path] | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        options = ["--rm", "--name", name, "--network", "host", "--pull", "never"]
        if container.run_as_user is not None:
            user = str(container.run_as_user)
            options += ["--user", user if container.run_as_group is None else f"{user}:{container.run_as_group}"]
        if container.read_only_root:
            options += ["--read-only", "--read-only-tmpfs=false"]
        for path, size in container.tmpfs:
            limit = f",size={size.removesuffix('i').lower()}" if size else ""
            options += ["--tmpfs", f"{path}:rw,mode=1777{limit}"]
        if container.drop_all_capabilities:
            options += ["--cap-drop", "ALL"]
        if container.no_new_privileges:
            options += ["--security-opt", "no-new-privileges"]
        if container.memory_limit:
            options += ["--memory", str(container.memory_limit)]
        if self.pg_socket is not None:
            options += ["--volume", f"{self.pg_socket}:{CONTAINER_PG_SOCKET_DIR}/{self.pg_socket.name}"]
        # Secret volumes (the component's certificate) where the pod mounts them, read-only.
        for path, local in sorted((mounts or {}).items()):
            options += ["--volume", f"{local}:{path}:ro"]
        for key, value in env.items():
            options += ["--env", f"{key}={value}"]
        # Kubernetes: `command` replaces the image's ENTRYPOINT, `args` its CMD.
        command = list(argv[: len(container.command)])
        args = list(argv[len(container.command) :])
        if command:
            options += ["--entrypoint", json.dumps(command)]
        return ["podman", "run", *options, container.image, *args], dict(os.environ)

    async def cleanup(self, names: Collection[str]) -> None:
        """Containers whose podman client was killed may outlive it: remove them by name."""
        for name in names:
            await asyncio.to_thread(
                subprocess.run, ["podman", "rm", "--force", "--ignore", name], capture_output=True, check=False
            )


@contextmanager
def local_servers(scratch: Path) -> Iterator[tuple[str, str]]:
    """An embedded PostgreSQL (admin URL) and a NATS server with JetStream (URL) in `scratch`."""
    from shop_devstack.postgres import EmbeddedPostgres
    from shopkit.testing import nats_server

    os.environ.setdefault("XDG_RUNTIME_DIR", str(REPO / ".data" / "xdg-runtime"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    server = EmbeddedPostgres(scratch / "pg")
    admin_url = server.start()
    try:
        with nats_server(scratch / "nats") as nats_url:
            yield admin_url, nats_url
    finally:
        server.stop()


def socket_of(url: str) -> Path:
    """The unix socket file of a `...?host=/dir` PostgreSQL URL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host = parsed.query.get("host")
    if not isinstance(host, str):
        raise ValueError(f"{url} does not use a unix socket")
    return Path(host) / f".s.PGSQL.{parsed.port or 5432}"


def scratch_dir() -> Path:
    """A folder under build/ that the containers' user may traverse (the PostgreSQL socket)."""
    BUILD_DIR.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="images-check-", dir=BUILD_DIR))
    scratch.chmod(0o755)
    return scratch


async def check_containers(services: Collection[str] = (), values_files: Sequence[Path] = ()) -> list[Outcome]:
    from sqlalchemy.engine import make_url

    from shop_devstack.postgres import provision

    # Without values files: a local cluster's install, whose gateway issues its own tokens (the
    # chart's default gateway needs a real issuer's JWKS_URL).
    manifests = render(values_files, values=None if values_files else {"gateway": {"devIssuer": {"enabled": True}}})
    ensure_host_tools()
    scratch = scratch_dir()
    try:
        with local_servers(scratch) as (admin_url, nats_url):
            local = LocalEnvironment(manifests, {}, nats_url, "")
            chosen = [
                w
                for w in local.workloads
                if w.labels.get("app.kubernetes.io/component") == "service" and (not services or w.service in services)
            ]
            served = {w.service for w in chosen}
            tests = helm_test_pods(manifests)
            orphans = [t.name for t in tests if t.service not in {w.service for w in local.workloads}]
            if orphans:
                raise SystemExit(f"helm test pods of no rendered Deployment: {', '.join(orphans)}")
            tests = [t for t in tests if t.service in served]
            images = {w.container.image for w in chosen} | {t.container.image for t in tests}
            missing = sorted(image for image in images if not image_exists(image))
            if missing:
                raise SystemExit(f"images not built: {', '.join(missing)} (run `make images`)")
            databases = await provision(admin_url, [w.service for w in chosen if w.migrate is not None], None)
            # Inside the containers the socket sits in the usual place; each service its own role and database.
            local.database_urls = {
                db.service: make_url(db.url)
                .update_query_dict({"host": CONTAINER_PG_SOCKET_DIR})
                .render_as_string(hide_password=False)
                for db in databases
            }
            # The certificates the pods mount: a local CA, one per component, one for the check itself.
            identities = issue_local_identities(manifests, scratch / "tls")
            local.secret_dirs, local.client = identities.secret_dirs, identities.client
            launcher = PodmanLauncher(socket_of(admin_url))
            with otlp_sink() as local.otlp_endpoint:
                return await LocalRun(local, launcher, scratch / "logs", name_prefix="shop-check").run(chosen, tests)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def check_load_generator() -> list[str]:
    """The load generator's containers (master and worker, as the chart renders them with
    `loadgen.enabled`) list the locustfile's user classes: the image holds locust, the
    locustfile the chart names and everything it imports, and runs read-only as its user, with the
    sandbox's CA certificate mounted where the chart mounts it."""
    manifests = render(values={"loadgen": {"enabled": True}})
    local = LocalEnvironment(manifests, {}, "nats://127.0.0.1:4222", "")
    problems = []
    with tempfile.TemporaryDirectory(prefix="shop-loadgen-") as scratch:
        local.secret_dirs = issue_local_identities(manifests, Path(scratch)).secret_dirs
        for workload in local.workloads:
            if workload.labels.get("app.kubernetes.io/component") != "service":
                problems += _list_user_classes(local, workload)
    if not any(w.labels.get("app.kubernetes.io/component") != "service" for w in local.workloads):
        problems.append("loadgen.enabled renders no load generator Deployment")
    return problems


def _list_user_classes(local: LocalEnvironment, workload: Workload) -> list[str]:
    """`locust ... --list` in one load generator container: [] when it lists the user classes."""
    container = workload.container
    argv = [*container.command, *container.args, "--list"]
    name = f"shop-check-{workload.deployment}"
    command, process_env = PodmanLauncher().command(
        workload, container, argv, local.environment(workload), name, local.mounts(container)
    )
    done = subprocess.run(command, env=process_env, capture_output=True, text=True, timeout=120, check=False)
    subprocess.run(["podman", "rm", "--force", "--ignore", name], capture_output=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        return [f"{workload.deployment}: `{' '.join(argv)}` exited {done.returncode}:\n{done.stderr[-2000:]}"]
    log(f"{workload.deployment}: user classes {' '.join(done.stdout.split()[2:])}")
    return []


def report(outcomes: Sequence[Outcome]) -> int:
    failed = 0
    print(f"{'SERVICE':<10} {'MIGRATE':<8} {'HEALTH':<12} {'UP (s)':>7} {'STOP (s)':>8} {'EXIT':>5}")
    for o in outcomes:
        migrate = "-" if o.migrate_status is None else str(o.migrate_status)
        print(
            f"{o.workload.service:<10} {migrate:<8} {o.health:<12} {o.seconds_to_serving or '-':>7} "
            f"{o.seconds_to_stop or '-':>8} {o.exit_status if o.exit_status is not None else '-':>5}"
        )
    tests = [t for o in outcomes for t in o.tests]
    if tests:
        print(f"\n{'HELM TEST POD':<28} {'EXIT':>5} {'TIME (s)':>8}  OUTPUT")
    for t in tests:
        status = "-" if t.exit_status is None else str(t.exit_status)
        answer = t.problem or (t.output.splitlines()[-1] if t.output else "not run")
        print(f"{t.pod.name:<28} {status:>5} {t.seconds or '-':>8}  {answer}")
    for o in outcomes:
        if o.ok:
            continue
        failed += 1
        if o.problems:
            print(f"\n{o.workload.service}: " + "; ".join(o.problems) + f"\n--- log\n{o.log}")
        for t in o.tests:
            if t.problem:
                print(f"\nhelm test {t.pod.name}: {t.problem}\n--- output\n{t.output}")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shop_deploycheck.containers", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the images (setup, base image and wheelhouse as needed)")
    build.add_argument("images", nargs="*", default=[], metavar="IMAGE", help=f"some of {', '.join(IMAGES)}")
    build.add_argument("--tag", default=None, help="image tag (default: the chart's appVersion)")
    sub.add_parser("wheels", help="only fill build/wheelhouse")
    check = sub.add_parser("check", help="run every rendered Deployment's container until it answers SERVING")
    check.add_argument("services", nargs="*", default=[], metavar="SERVICE")
    check.add_argument("-f", "--values", action="append", type=Path, default=[], help="chart values file")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.command == "wheels":
        wheelhouse()
        return 0
    if args.command == "build":
        unknown = sorted(set(args.images) - set(IMAGES))
        if unknown:
            parser.error(f"unknown images {unknown}; known: {', '.join(IMAGES)}")
        built = build_images(args.images or IMAGES, args.tag)
        own = sum(b.own_layer_bytes for b in built)
        log(f"{len(built)} images in {time.monotonic() - started:.0f} s; their own layers {own / 1e6:.0f} MB together")
        return 0
    outcomes = asyncio.run(check_containers(args.services, args.values))
    code = report(outcomes)
    if not args.services or "loadtests" in args.services:
        problems = check_load_generator()
        for problem in problems:
            print(f"\nload generator: {problem}")
        code = code or (1 if problems else 0)
    log(f"container check in {time.monotonic() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
