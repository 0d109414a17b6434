"""Errors that name the problem and the fix, and say whose fault it is.

Components raise these so that the KFP UI (which shows the task's last exception) and
``kfp.local`` both print one readable line instead of a deep traceback.

Two families, because they call for different people and different actions:

- :class:`UserError`: the input is wrong (bad data, a bad parameter, bad model code). Retrying
  the same run cannot help; the message says what to change. The model server answers 400.
- :class:`InfrastructureError`: the input may be fine but something around it failed (an
  unreachable server, a crashed worker, a full disk). A retry or an operator can help; the
  model server answers 500 (503 while not ready).

Both carry ``problem`` and ``fix``. Only the standard library is imported: the trainer env
imports this module too.
"""


class ComponentError(ValueError):
    """Base class of every error a component raises on purpose.

    Args:
        problem: What is wrong, naming the column, file, parameter or server.
        fix: What to do about it.
    """

    #: ``"user"`` or ``"infrastructure"``: whose fault it is (set by the two families).
    fault = "user"

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}" if fix else problem)


class UserError(ComponentError):
    """The input is wrong: data, a parameter or model code. Retrying the same input fails again."""

    fault = "user"


class InfrastructureError(ComponentError):
    """Something around the input failed: a server, a worker, the disk. A retry may help."""

    fault = "infrastructure"


class DataLoadError(UserError):
    """A dataset cannot be read: missing path or object, empty or unreadable file."""


class DataValidationError(UserError):
    """A dataset does not meet its expectation suite."""


class ParameterError(UserError):
    """A component parameter has a value the component cannot use."""


class ModelCodeError(UserError):
    """A user's model code cannot be imported, called, or returns something unusable."""


class ServiceUnavailableError(InfrastructureError):
    """A server the component needs (MLflow, a database, a gateway) does not answer."""


class WorkerError(InfrastructureError):
    """A worker process or job failed for a reason outside the inputs (crash, OOM, timeout)."""


class StorageError(InfrastructureError):
    """Writing or reading storage failed: a full disk, a permission, a lost object store."""


def fault_of(exc: BaseException) -> str:
    """``"user"`` or ``"infrastructure"`` for one of ours; ``"infrastructure"`` otherwise.

    An exception we did not raise on purpose is a bug or an environment fault, never the
    user's: the model server turns it into a 500.
    """
    return (
        getattr(exc, "fault", "infrastructure")
        if isinstance(exc, ComponentError)
        else ("infrastructure")
    )
