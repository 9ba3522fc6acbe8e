"""Errors a user can fix; the command-line entry points print them as one line."""


class UserError(Exception):
    """A wrong config value, a missing dataset, an unusable checkpoint: fixable by the user."""


class ConfigError(UserError):
    """A config value outside what is allowed."""


class DatasetUnavailable(UserError):
    """The dataset's files are not on disk and could not be obtained."""


class TrainingDiverged(UserError):
    """The loss or the probabilities became NaN or infinite."""
