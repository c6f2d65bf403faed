"""Errors a user can act on. The CLI prints their message without a traceback."""


class SynaugError(Exception):
    """Base class: bad input or configuration, with a message that says what to do."""


class DatasetError(SynaugError):
    """A dataset cannot be found, read or parsed."""


class PlanError(SynaugError):
    """A sampling strategy or plan is invalid."""


class GenerationError(SynaugError):
    """A generator cannot draw what the plan asks, or an output folder conflicts with the plan."""


class ConfigError(SynaugError, ValueError):
    """A command-line option or configuration names a key or value that does not exist, or is out of
    range or malformed (a ValueError for code)."""


def did_you_mean(name, choices) -> str:
    """' (did you mean 'x'?)' for the closest of `choices`, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown(kind: str, name, choices) -> str:
    """"unknown dataset 'x'; did you mean 'y'? choose from [...]": the message for a wrong name."""
    hint = did_you_mean(name, choices)
    return f"unknown {kind} {name!r}{hint}{' ' if hint else '; '}choose from {sorted(map(str, choices))}"


def check_keys(given, known, where: str) -> None:
    """Refuse keys of a config mapping that are not in `known`, suggesting the closest one."""
    if not isinstance(given, dict):
        raise ConfigError(f"{where}: expected a mapping of options, got {type(given).__name__} {given!r}")
    for key in given:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}{did_you_mean(key, known)} "
                              f"(known: {', '.join(sorted(map(str, known)))})")


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
