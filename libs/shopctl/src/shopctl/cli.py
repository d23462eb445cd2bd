"""The `shopctl` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from shopctl import canary, migrate, status
from shopctl.errors import EXIT_USAGE, ShopctlError
from shopctl.kube import Target, connect

DEFAULT_NAMESPACE = "shop"
DEFAULT_RELEASE = "shop"


def _connection_options() -> argparse.ArgumentParser:
    # SUPPRESS defaults: the options work before and after the subcommand without one resetting the other.
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("cluster")
    group.add_argument(
        "-n",
        "--namespace",
        default=argparse.SUPPRESS,
        help=f"namespace of the release (default: the context's namespace, else {DEFAULT_NAMESPACE})",
    )
    group.add_argument(
        "--release",
        default=argparse.SUPPRESS,
        help=f"Helm release name, matched by the label app.kubernetes.io/instance (default: {DEFAULT_RELEASE})",
    )
    group.add_argument("--context", default=argparse.SUPPRESS, help="kubeconfig context (default: the current one)")
    group.add_argument(
        "--kubeconfig",
        default=argparse.SUPPRESS,
        help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account)",
    )
    return options


def parser() -> argparse.ArgumentParser:
    common = _connection_options()
    root = argparse.ArgumentParser(
        prog="shopctl",
        description="Operate a shop release on Kubernetes: status, canary promotion and abort, migrations.",
        epilog="Exit codes: 0 done, 1 operation failed, 2 bad usage, 3 cluster unreachable or kubeconfig "
        "unusable, 4 service/Rollout/release not found.",
        parents=[common],
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status_cmd = commands.add_parser("status", parents=[common], help="replicas, image and canary progress per service")
    status_cmd.add_argument("services", nargs="*", metavar="SERVICE", help="only these services")
    status_cmd.add_argument("-o", "--output", choices=["table", "json"], default="table", help="output format")

    canary_cmd = commands.add_parser("canary", parents=[common], help="drive a service's canary (Argo Rollouts)")
    canary_actions = canary_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    promote = canary_actions.add_parser(
        "promote",
        parents=[common],
        help="go on to the next step (like `kubectl argo rollouts promote`)",
    )
    promote.add_argument("service", metavar="SERVICE")
    promote.add_argument(
        "--full", action="store_true", help="skip the remaining steps and analysis: the canary becomes stable now"
    )
    abort = canary_actions.add_parser(
        "abort",
        parents=[common],
        help="send all traffic back to the stable version (like `kubectl argo rollouts abort`)",
    )
    abort.add_argument("service", metavar="SERVICE")

    migrate_cmd = commands.add_parser(
        "migrate",
        parents=[common],
        help="run the chart's migration Job again with each service's current image and wait for it",
    )
    migrate_cmd.add_argument("services", nargs="*", metavar="SERVICE", help="default: every service with migrations")
    migrate_cmd.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for the Jobs to finish (default: 600)"
    )
    migrate_cmd.add_argument(
        "--poll-interval", type=float, default=2.0, help="seconds between Job status checks (default: 2)"
    )
    return root


def run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    args = parser().parse_args(argv)
    target = Target(
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
        namespace=getattr(args, "namespace", None),
    )
    release: str = getattr(args, "release", DEFAULT_RELEASE)
    if args.command == "migrate" and (args.timeout <= 0 or args.poll_interval <= 0):
        print("shopctl: --timeout and --poll-interval must be positive", file=err)
        return EXIT_USAGE
    try:
        kube = connect(target, DEFAULT_NAMESPACE)
        if args.command == "status":
            statuses = status.collect(kube, release, args.services)
            if args.output == "json":
                print(status.as_json(statuses, release=release, namespace=kube.namespace), file=out)
            elif statuses:
                print(status.as_table(statuses), file=out)
            else:
                print(f"release {release!r} has no services in namespace {kube.namespace!r}", file=err)
        elif args.command == "canary" and args.action == "promote":
            print(canary.promote(kube, release, args.service, full=args.full), file=out)
        elif args.command == "canary" and args.action == "abort":
            print(canary.abort(kube, release, args.service), file=out)
        elif args.command == "migrate":
            migrate.run(
                kube,
                release,
                args.services,
                timeout=args.timeout,
                poll_interval=args.poll_interval,
                out=out,
                err=err,
            )
    except ShopctlError as exc:
        print(f"shopctl: {exc}", file=err)
        return exc.exit_code
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(sys.argv[1:] if argv is None else argv, sys.stdout, sys.stderr))
