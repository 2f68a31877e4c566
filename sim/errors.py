"""govsim's exceptions: one hierarchy, raised by the library, turned into exit codes only by the CLI.

Every message is about the data — the file, the dotted key, the value and what is allowed — and
never about a command-line flag, so the same error reads well in a notebook, a script or a log.
``sim.cli`` prints any :class:`GovsimError` as one line and exits with code 2 (a bad input),
except :class:`WorkerError`, which exits with code 1 (the run failed)::

    GovsimError                  anything the user can fix by changing an input
    ├── InputError               a value, file or name given to the library is not allowed
    │   ├── ParameterError       a parameter is unknown, mistyped or out of range (dotted key)
    │   └── InputFileError       an input file cannot be loaded (file, dotted key, what is allowed)
    │       ├── ScenarioError    ... a scenario file
    │       ├── SweepError       ... a sweep file
    │       ├── CalibrationError ... a calibration file
    │       └── UncertaintyError ... an uncertainty file, or a parameter draw a scenario rejects
    │   └── LimitError           a run, comparison or sweep needs more memory or runs than allowed
    ├── OutputError              a result cannot be written where it was asked to go
    ├── StoreError               the results database cannot be opened, read or written
    ├── ClusterError             a Dask scheduler cannot be reached or used
    └── WorkerError              a worker process died without returning its result
"""

from __future__ import annotations

from typing import Any

_UNSET: Any = object()


def _allowed_of(message: str) -> str:
    """The ``allowed: ...`` tail of a message (what the user may give instead), or ''."""
    head, sep, tail = message.rpartition("allowed: ")
    return tail.strip() if sep else ""


class GovsimError(Exception):
    """Base of every error the library raises for a problem the user can fix.

    Besides its one-line message it carries, where they apply, ``file`` (the input file or
    other source), ``key`` (the dotted key), ``value`` (what was given; :attr:`has_value`
    says whether any) and ``allowed`` (what is allowed; by default the message's
    ``allowed: ...`` tail), so a program can act on an error without parsing its text.
    """

    def __init__(self, message: str = "", *, file: str = "", key: str = "", value: Any = _UNSET,
                 allowed: str = "") -> None:
        super().__init__(message)
        self.file = file
        self.key = key
        self.value = None if value is _UNSET else value
        self.has_value = value is not _UNSET
        self.allowed = allowed or _allowed_of(message)


class InputError(GovsimError, ValueError):
    """A value, a file or a name given to the library is not allowed."""


class ParameterError(InputError):
    """A parameter is unknown, of the wrong type or out of range.

    ``key`` is the dotted path of the parameter (``handling.dur_escalate.street``), so that the
    scenario loader can report the file, the key and what is allowed on one line.
    """

    def __init__(self, key: str, message: str, *, value: Any = _UNSET, allowed: str = "") -> None:
        super().__init__(f"{key}: {message}" if key else message, key=key, value=value, allowed=allowed)
        self.message = message

    def under(self, prefix: str) -> ParameterError:
        """Return the same error with ``prefix.`` prepended to its key."""
        key = f"{prefix}.{self.key}" if prefix and self.key else (prefix or self.key)
        value = self.value if self.has_value else _UNSET
        return ParameterError(key, self.message, value=value, allowed=self.allowed)


class InputFileError(InputError):
    """An input file cannot be loaded: one line with the file, the dotted key and what is allowed.

    ``source`` is the file (or another name of the input), ``key`` the dotted key in it (empty
    when the whole file is at fault) and ``message`` what is wrong and what is allowed.
    """

    def __init__(self, source: str, key: str, message: str, *, value: Any = _UNSET, allowed: str = "") -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {message}" if key else f"{where}{message}", file=source, key=key,
                         value=value, allowed=allowed)
        self.source = source
        self.message = message

    @classmethod
    def of(cls, source: str, err: ParameterError) -> InputFileError:
        """``err`` (a bad key of the file's data) as this class's error about file ``source``."""
        return cls(source, err.key, err.message, value=err.value if err.has_value else _UNSET, allowed=err.allowed)


class ScenarioError(InputFileError):
    """A scenario cannot be loaded: one line with the file, the key and what is allowed."""


class SweepError(InputFileError):
    """A sweep file cannot be loaded: one line with the file, the key and what is allowed."""


class CalibrationError(InputFileError):
    """A calibration file cannot be loaded: one line with the file, the key and what is allowed."""


class UncertaintyError(InputFileError):
    """An uncertainty file (``compare --uncertainty FILE``) or a parameter draw cannot be used: one line."""


class LimitError(InputError):
    """A run, comparison or sweep would need more memory or runs than this machine (or the set cap) allows.

    The message names the estimate, the cap and how to raise it.
    """


class OutputError(GovsimError):
    """A report, export or calibrated scenario cannot be written where it was asked to go."""


class StoreError(GovsimError):
    """One clear line for the user: names the URL (password masked) and what is wrong / allowed."""

    #: a write given up after a commit was sent whose outcome is unknown: it may have happened
    maybe_written: bool = False


class ClusterError(GovsimError):
    """A Dask scheduler cannot be reached, or Dask is not installed."""


class WorkerError(GovsimError, RuntimeError):
    """A worker process ended without returning its result (killed, out of memory): the run failed."""

    #: how many times the run was started, its worker dying each time
    attempts: int = 1
