"""Errors shopctl reports, each with the exit code the command ends with.

Exit codes: 0 done; 1 the operation failed (a migration failed or timed out, the API refused a
request); 2 bad usage; 3 the cluster is unreachable or the kubeconfig unusable; 4 something named
does not exist (service, Rollout, Helm release).
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_NOT_FOUND = 4


class ShopctlError(Exception):
    """An error shown to the user as `shopctl: <message>`, ending the command with `exit_code`."""

    exit_code = EXIT_FAILED


class ClusterUnreachable(ShopctlError):
    exit_code = EXIT_UNREACHABLE


class NotFound(ShopctlError):
    exit_code = EXIT_NOT_FOUND


class ApiError(ShopctlError):
    """The API server answered with an error status (403, 409, 422, ...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
        if status == 404:
            self.exit_code = EXIT_NOT_FOUND


class OperationFailed(ShopctlError):
    exit_code = EXIT_FAILED
