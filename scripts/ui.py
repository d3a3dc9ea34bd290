"""``make ui``: this project's Airflow on 127.0.0.1, with our DAGs, the Audience downloads page and no examples.

Writes ``$AIRFLOW_HOME/airflow.cfg`` (default ``./.airflow``, the same home ``make demo`` uses, so the demo's runs
and deliveries are there), migrates the metadata DB, starts ``airflow scheduler``, ``airflow dag-processor`` and
``airflow api-server`` (LocalExecutor, each its own process; logs in ``$AIRFLOW_HOME/component-logs/``), prints
where to log in, and stops them all on Ctrl-C. Options: ``--port`` (default 8080), ``--no-scheduler`` (only the
UI: browse the demo's runs without scheduling anything new).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo import set_environment  # the demo's defaults: same lake, deliveries and key

from retarget_pipeline.orchestration import deployment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("RETARGET_UI_PORT") or deployment.DEFAULT_PORT))
    parser.add_argument("--no-scheduler", action="store_true", help="start only the API server (the UI)")
    args = parser.parse_args(argv)
    for note in set_environment(verbose=False):
        print(f"NOTE: {note}")
    home = Path(os.environ["AIRFLOW_HOME"])
    if not 0 < args.port < 65536:
        print(f"ui: --port {args.port}: expected 1-65535", file=sys.stderr)
        return 2
    if not deployment.port_is_free(args.port):
        print(f"ui: port {args.port} on 127.0.0.1 is in use (another Airflow?): pick one with --port", file=sys.stderr)
        return 2
    cfg = deployment.write_airflow_cfg(home, port=args.port)
    password = deployment.admin_password(home)
    env = deployment.component_env(home)
    print(f"airflow.cfg   {cfg} (our DAGs and plugin, no examples, Execution API on port {args.port})")
    print("metadata DB   migrating ...", flush=True)
    deployment.migrate(home, env)
    running = deployment.Deployment(home, args.port)
    components = ("api-server",) if args.no_scheduler else deployment.COMPONENTS
    running.start(env, components)
    stop = {"now": False}

    def on_signal(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"starting      {', '.join(components)} (logs: {home / 'component-logs'}) ...", flush=True)
        running.wait_until_up(timeout=300)
        print(f"\nAirflow UI    {running.base_url}/")
        print(f"downloads     {running.base_url}/audiences/")
        print(f"login         user '{deployment.ADMIN_USER}', password '{password}'")
        print(f"              (kept in {home / 'simple_auth_manager_passwords.json'}; local use only)")
        print("DAGs are paused until you unpause them in the UI. Ctrl-C stops everything.", flush=True)
        while not stop["now"]:
            if dead := running.dead():
                print(f"ui: component(s) exited: {dead}; see {home / 'component-logs'}", file=sys.stderr)
                return 1
            time.sleep(1)
    finally:
        print("stopping ...", flush=True)
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
