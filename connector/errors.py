"""Domain exceptions.

Every error a user can cause derives from :class:`ConnectorError`; its message is
written for that user (it names the file, field or line and says what to do), and
the CLI prints it without a traceback and exits with :attr:`exit_code`.
Lambdas raise these too: the state machines' Retry/Catch decide what happens next,
never the message text.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class of every error the connector reports to its user."""

    exit_code = 2


class ParamsError(ConnectorError):
    """params.json is missing, is not JSON, or does not satisfy the model."""


class TemplateError(ConnectorError):
    """A query template is missing, fails to render, or does not match params.json."""


class PlanError(ConnectorError):
    """A requested range or interval cannot be planned (bad order, beyond limits)."""


class UnloadError(ConnectorError):
    """An UNLOAD cannot be built safely from the given target, role or options."""


class WarehouseError(ConnectorError):
    """The warehouse rejected or failed a statement."""

    exit_code = 1


class DetectorError(ConnectorError):
    """The detector cannot be built, loaded or run."""

    exit_code = 1
