"""Benchmark: what ``newsdesk serve`` pays to start its API and web UI, before the desk does any work.

Each round sets up a fresh data folder the way ``newsdesk init`` does (not measured), then starts
``python -m newsdesk serve`` on it and samples the process: CPU (user + system) and RSS at the moment
``/healthz`` first answers ("ready"), then after the first request to each of a UI page, the API's
article list and a reader app's API (``/reader/api/0/...``) — so a module imported on first use shows
up where it is paid instead of vanishing from the figures. The server is stopped with SIGTERM.

By default the service runs with ``--no-poll`` and enrichment off, which leaves the API's start alone;
``--poll`` adds the desk's thread (with no sources its cycle does nothing but start), ``--enrich`` the
model preparation ``serve`` repeats at start.

Then what importing ``newsdesk.api.app`` adds to a process that imported the CLI (fresh interpreters,
``--imports`` of them): CPU, RSS and modules, and ``python -X importtime``'s self time by top-level
package.

Usage: ``.venv/bin/python bench/serve_start.py [--rounds 5] [--imports 5] [--poll] [--enrich]``
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
PYCACHE = ROOT / "bench" / "out" / "pycache"
START_TIMEOUT_S = 60.0
POLL_S = 0.005  # how often /healthz is asked while the server starts
# The first request of each kind, after /healthz: what a visitor, an API client and a reader app ask.
FIRST_REQUESTS = (
    ("ui page", "/"),
    ("api list", "/api/v1/articles"),
    ("reader api", "/reader/api/0/subscription/list?output=json"),
)
SETUP = """from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
with Newsdesk(load_settings()) as nd:
    nd.init()
"""
CLI = "import newsdesk.cli.core"
API = "import newsdesk.cli.core, newsdesk.api.app"
IMPORT_COST = """import sys, time
import newsdesk.cli.core
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
before, memory, modules = time.process_time(), rss(), len(sys.modules)
import newsdesk.api.app
print(time.process_time() - before, rss() - memory, len(sys.modules) - modules)
"""


@dataclass(frozen=True, slots=True)
class Sample:
    cpu_s: float
    rss_mb: float


def env_for(data_dir: Path, *, enrich: bool, port: int) -> dict[str, str]:
    """The service's environment: this tree first on the path, bytecode cached as an installed package
    has it (bench/peers.py does the same), the settings of a fresh data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env | {
        "PYTHONPATH": str(ROOT),
        "NEWSDESK_CONFIG": str(data_dir / "absent.toml"),
        "NEWSDESK_DATA_DIR": str(data_dir),
        "NEWSDESK_ENRICH": "1" if enrich else "0",
        "NEWSDESK_API_PORT": str(port),
        "NEWSDESK_API_HOST": "127.0.0.1",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sample(process: psutil.Process) -> Sample:
    """CPU and RSS of the service and whatever it started."""
    tree = [process, *process.children(recursive=True)]
    cpu = rss = 0.0
    for p in tree:
        try:
            times = p.cpu_times()
            cpu += times.user + times.system
            rss += p.memory_info().rss
        except psutil.Error:
            continue
    return Sample(cpu, rss / 2**20)


def wait_ready(client: httpx.Client, proc: subprocess.Popen[bytes]) -> float:
    """Ask /healthz until it answers; the seconds that took."""
    started = time.perf_counter()
    while time.perf_counter() - started < START_TIMEOUT_S:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited with {proc.returncode}")
        try:
            if client.get("/healthz").status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(POLL_S)
    raise RuntimeError("serve did not answer /healthz in time")


def one_round(*, poll: bool, enrich: bool) -> dict[str, Sample | float]:
    """Start serve on a fresh folder; its cost when ready and after each first request."""
    data_dir = Path(tempfile.mkdtemp(prefix="serve-start-")) / "data"
    data_dir.mkdir()
    port = free_port()
    env = env_for(data_dir, enrich=enrich, port=port)
    subprocess.run([sys.executable, "-c", SETUP], env=env, cwd=data_dir, check=True)
    command = [sys.executable, "-m", "newsdesk", "serve", *([] if poll else ["--no-poll"])]
    proc = subprocess.Popen(
        command, env=env, cwd=data_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    figures: dict[str, Sample | float] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            figures["wall to ready s"] = wait_ready(client, proc)
            process = psutil.Process(proc.pid)
            figures["ready"] = sample(process)
            for label, path in FIRST_REQUESTS:
                answer = client.get(path)
                if answer.status_code >= 500:
                    raise RuntimeError(f"{path}: {answer.status_code}")
                figures[label] = sample(process)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return figures


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    here = Path(tempfile.gettempdir())  # cwd: `python -c` puts it first on sys.path, before this tree
    env = env_for(here, enrich=False, port=0)
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=here, capture_output=True, text=True, check=True
    )


def importtime(code: str) -> dict[str, int]:
    """Self time (µs) of every module ``code`` imports, by module name."""
    times: dict[str, int] = {}
    for line in _python("-X", "importtime", "-c", code).stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.split(":", 1)[1].split("|")
        times[name.strip()] = int(self_us)
    return times


def import_cost() -> tuple[float, float, int]:
    """CPU-s and RSS MB that importing the API adds to a process that imported the CLI, and how many
    modules it adds (one fresh interpreter)."""
    done = _python("-c", IMPORT_COST)
    cpu, rss, modules = done.stdout.split()
    return float(cpu), float(rss), int(modules)


def added_imports(runs: int) -> None:
    """What importing the API adds on top of the CLI, over ``runs`` fresh interpreters: its CPU and
    memory, and ``-X importtime``'s self time by top-level package (indicative: on a loaded box the
    self times wander more than the CPU clock)."""
    costs = [import_cost() for _ in range(runs)]
    cpu, rss = [c[0] for c in costs], [c[1] for c in costs]
    print(f"importing newsdesk.api.app after the CLI: {costs[0][2]} modules, "
          f"{statistics.median(cpu):.3f} CPU-s median ({min(cpu):.3f} min), "
          f"+{statistics.median(rss):.1f} MB RSS, {runs} runs")  # fmt: skip
    packages = collections.defaultdict(list)
    for _ in range(runs):
        cli, api = importtime(CLI), importtime(API)
        by_package: collections.Counter[str] = collections.Counter()
        for name, us in api.items():
            if name not in cli:
                by_package[name.split(".")[0]] += us
        for name, us in by_package.items():
            packages[name].append(us)
    top = sorted(packages.items(), key=lambda item: -statistics.median(item[1]))[:12]
    for name, values in top:
        print(f"  {name:24} {statistics.median(values) / 1000:6.1f} ms self time (median)")


def report(rounds: list[dict[str, Sample | float]]) -> None:
    """Median and lowest of each figure: on a shared box the lowest CPU is the steadier one."""
    wall = statistics.median(float(r["wall to ready s"]) for r in rounds)  # type: ignore[arg-type]
    print(f"serve start, {len(rounds)} rounds (median wall to /healthz {wall:.2f} s)")
    print(f"  {'after':14} {'CPU-s median (min)':>20} {'RSS MB median (min)':>21}")
    for label in ("ready", *(label for label, _ in FIRST_REQUESTS)):
        samples = [r[label] for r in rounds]
        cpu = [s.cpu_s for s in samples]  # type: ignore[union-attr]
        rss = [s.rss_mb for s in samples]  # type: ignore[union-attr]
        print(
            f"  {label:14} {statistics.median(cpu):12.2f} ({min(cpu):.2f})"
            f" {statistics.median(rss):12.1f} ({min(rss):.1f})"
        )


def warm_bytecode() -> None:
    """Compile the modules serve imports into the bench's bytecode cache, so the first round does not
    pay a compile that no installed newsdesk pays."""
    here = Path(tempfile.gettempdir())
    env = env_for(here, enrich=False, port=0)
    subprocess.run([sys.executable, "-c", API + ", newsdesk.web.routes"], env=env, cwd=here, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="serve starts (0: skip)")
    parser.add_argument("--imports", type=int, default=5, help="importtime runs (0: skip)")
    parser.add_argument("--poll", action="store_true", help="run the desk's thread too")
    parser.add_argument("--enrich", action="store_true", help="enrichment on (model preparation)")
    args = parser.parse_args(argv)
    warm_bytecode()
    rounds = [one_round(poll=args.poll, enrich=args.enrich) for _ in range(args.rounds)]
    if rounds:
        report(rounds)
    if args.imports:
        added_imports(args.imports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
