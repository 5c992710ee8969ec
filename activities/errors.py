"""Errors of the activities package.

Hierarchy::

    ActivitiesError
     └── ConfigError      the worker configuration (file, providers, tool modules) is wrong

Failures of a step itself leave an activity as ``temporalio.exceptions.ApplicationError``
(see :mod:`activities.base`), never as these.
"""

from __future__ import annotations


class ActivitiesError(Exception):
    """Base class of the errors raised by the :mod:`activities` package."""


class ConfigError(ActivitiesError):
    """The worker configuration is wrong; the message says where and what."""
