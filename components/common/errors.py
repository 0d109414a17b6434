"""Errors that name the problem and the fix.

Components raise these so that the KFP UI (which shows the task's last exception) and
``kfp.local`` both print one readable line instead of a deep traceback.
"""


class ComponentError(ValueError):
    """Base class: an input or parameter a component cannot work with.

    Args:
        problem: What is wrong, naming the column, file or parameter.
        fix: What the user should do about it.
    """

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}" if fix else problem)


class DataLoadError(ComponentError):
    """A dataset cannot be read: missing path or object, empty or unreadable file."""


class DataValidationError(ComponentError):
    """A dataset does not meet its expectation suite."""


class ParameterError(ComponentError):
    """A component parameter has a value the component cannot use."""
