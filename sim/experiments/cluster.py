"""Dask's TLS settings for a scheduler on a network: :func:`tls_security`.

A Dask scheduler runs whatever any connected client submits, as the user running its workers,
and the workers can read every file that user can. Over ``tcp://`` anyone who can reach the
port can submit work; over ``tls://`` with ``require_encryption`` only a holder of a certificate
signed by the cluster's CA can connect (mutual TLS: the scheduler checks the client's
certificate, the client the scheduler's). README "Running on a network" has the whole recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.errors import ClusterError, InputError

__all__ = ["tls_security"]


def _readable(path: str, what: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"TLS {what} '{path}': no such file (a PEM file is expected)")
    try:
        with p.open("rb"):
            pass
    except OSError as exc:
        raise InputError(f"TLS {what} '{path}': cannot be read ({exc.strerror or exc})") from None
    return str(p)


def tls_security(scheduler: str | None, ca_file: str | None = None, cert: str | None = None,
                 key: str | None = None) -> Any:
    """``distributed.Security`` for ``scheduler`` from a CA file and this client's certificate and key.

    None when no file is given (then Dask's own configuration, ``distributed.comm.tls.*``, applies).
    The files need a ``tls://`` address, and a certificate needs its CA (mutual TLS, encryption
    required); ``key`` may be left out when ``cert`` holds the key too. Every file is checked
    before anything connects: :class:`~sim.errors.InputError` names the file.
    """
    if not (ca_file or cert or key):
        return None
    if not (scheduler or "").startswith("tls://"):
        raise InputError(f"TLS certificate files need a tls:// scheduler address, got {scheduler or 'none'!r}")
    if not (ca_file and cert):
        raise InputError("TLS needs both the CA file that signed the cluster's certificates and this client's "
                         "certificate (and its key, unless the certificate file holds it)")
    try:
        from distributed.security import Security
    except ImportError:
        raise ClusterError("running on a Dask scheduler needs Dask distributed: pip install 'govsim[cluster]'") from None
    return Security(tls_ca_file=_readable(ca_file, "CA file"), tls_client_cert=_readable(cert, "certificate"),
                    tls_client_key=_readable(key, "key") if key else None, require_encryption=True)
