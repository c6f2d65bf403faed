"""Errors a user can act on. The CLI prints their message without a traceback."""


class SynaugError(Exception):
    """Base class: bad input or configuration, with a message that says what to do."""


class DatasetError(SynaugError):
    """A dataset cannot be found, read or parsed."""


class PlanError(SynaugError):
    """A sampling strategy or plan is invalid."""


class GenerationError(SynaugError):
    """A generator cannot draw what the plan asks, or an output folder conflicts with the plan."""


class ConfigError(SynaugError):
    """A command-line option or configuration value is out of range or malformed."""


class RunFolderError(SynaugError):
    """A run folder belongs to another run, is not empty, or its checkpoints are unreadable."""


class TrainingError(SynaugError):
    """Training cannot go on (e.g. the loss is no longer a finite number)."""


class MissingDependencyError(SynaugError):
    """An optional extra is needed for this feature."""


def require(module: str, extra: str, feature: str):
    """Import an optional dependency or explain exactly what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - message path tested via monkeypatch
        raise MissingDependencyError(
            f"{feature} needs the optional package '{module}'. "
            f"Install it with: pip install 'synaug[{extra}]'"
        ) from exc
