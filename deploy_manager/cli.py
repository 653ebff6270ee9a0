"""Command line of the platform: ``deploy-manager demo|ingest|materialize|migrate|serve-api``."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from datetime import date

from deploy_manager.settings import MAX_PORT, jdbc_to_postgres_url, load_settings


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from exc


def _day_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 60:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: use a whole number from 1 to 60")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a TCP port: use a whole number from 1 to {MAX_PORT}, such as 8000"
        )
    return int(text)


def _worker_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: use a whole number >= 1")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploy-manager", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the main job end to end on demo data")
    demo.add_argument(
        "--days",
        type=_day_count,
        default=3,
        help="earlier days of generated runs before today (default 3)",
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="then serve the REST API over the materialized marts until interrupted",
    )
    commands.add_parser("migrate", help="create or upgrade the raw schema in PostgreSQL")
    ingest = commands.add_parser("ingest", help="ingest the landing folder (DM_LANDING_DIR)")
    ingest.add_argument(
        "--force", action="store_true", help="re-ingest files already ingested unchanged"
    )
    materialize = commands.add_parser(
        "materialize", help="materialize every partitioned asset for a date range in one run"
    )
    materialize.add_argument("--from", dest="first", type=_date, required=True)
    materialize.add_argument("--to", dest="last", type=_date, required=True)
    materialize.add_argument("--sites", nargs="*", help="contiguous registered sites (default all)")
    materialize.add_argument(
        "--submit",
        action="store_true",
        help="queue the run in the Dagster instance of DAGSTER_HOME for the daemon to run, "
        "instead of running it in this process",
    )
    serve = commands.add_parser(
        "serve-api", help="serve the REST API with uvicorn (reads the warehouse, no JVM)"
    )
    serve.add_argument("--host", help="address to listen on (default DM_API_HOST, 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, help=f"TCP port, 1 to {MAX_PORT} (default DM_API_PORT, 8000)"
    )
    serve.add_argument(
        "--workers",
        type=_worker_count,
        help="uvicorn worker processes (default DM_API_WORKERS, 1)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Single-run backfill policies are marked beta in dagster 1.13; the warning repeats once
    # per asset and gives an operator nothing to act on.
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Dagster's PostgreSQL storage runs its alembic schema set-up on first use, line by line.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "serve-api":
        from api_service.server import serve
        from api_service.settings import ApiSettingsError

        try:
            serve(args.host, args.port, args.workers)
        except ApiSettingsError as exc:
            print(f"deploy-manager serve-api: {exc}", file=sys.stderr)
            return 2
        return 0
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    from deploy_manager.db.connection import connect, ensure_database
    from deploy_manager.db.migrate import apply_migrations
    from deploy_manager.instance import use_platform_instance

    try:
        use_platform_instance(settings)
    except (FileNotFoundError, ValueError) as exc:
        print(f"deploy-manager {args.command}: {exc}", file=sys.stderr)
        return 2
    ensure_database(settings.postgres_url)
    if not settings.uses_embedded_metastore:
        # DataNucleus creates the metastore tables, but not the database itself.
        ensure_database(jdbc_to_postgres_url(settings.metastore_url))
    with connect(settings.postgres_url) as conn:
        apply_migrations(conn)
        conn.commit()
        if args.command == "migrate":
            return 0
        if args.command == "ingest" and args.force:
            from deploy_manager.core5g.landing import ingest_core5g_landing
            from deploy_manager.netops.devices.load import ingest_device_landing
            from deploy_manager.netops.load import ingest_landing

            # Re-read every source here; the Dagster ingest below then registers the sites.
            print(ingest_landing(conn, settings.landing_dir, force=True))
            print(ingest_device_landing(conn, settings.landing_dir, force=True))
            print(ingest_core5g_landing(conn, settings.landing_dir, force=True))
            conn.commit()

    if args.command == "demo":
        from deploy_manager.demo.run import run_demo

        status = run_demo(settings, days=args.days)
        if status == 0 and args.serve:
            from pyspark.sql import SparkSession

            from api_service.server import serve

            # The API reads the ORC files itself, so the demo's JVM is no longer needed.
            spark = SparkSession.getActiveSession()
            if spark is not None:
                spark.stop()
            serve()
        return status

    from dagster import DagsterInstance

    from deploy_manager.definitions import build_definitions
    from deploy_manager.pipeline import PartitionRangeError, ingest, materialize_rectangle

    instance = DagsterInstance.get()
    defs = build_definitions(settings)
    if args.command == "ingest":
        return 0 if ingest(defs, instance).success else 1
    try:
        if args.submit:
            from deploy_manager.automation.backfill import submit_rectangle

            return submit_rectangle(instance, args.first, args.last, args.sites)
        result = materialize_rectangle(defs, instance, args.first, args.last, args.sites)
    except PartitionRangeError as exc:
        print(f"deploy-manager materialize: {exc}", file=sys.stderr)
        return 2
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
