"""Command-line flags generated from dataclass fields: each setting declared once.

A setting is a dataclass field made with `setting(default, help=...)`; its
metadata holds what argparse needs (help, choices, type, flag name), so the
field is the one place of its default and its `--help` text. `add_flags`
adds `--field-name` flags with those defaults; `flag_values` reads them back
as keyword arguments of the dataclass.

Help texts are argparse templates: `%(default)s` shows the default, `%%` a
percent sign.

Example:

    >>> import argparse, dataclasses
    >>> @dataclasses.dataclass
    ... class Settings:
    ...     epochs: int = setting(3, help="passes over the data (default %(default)s)")
    ...     exum: bool = setting(False, help="train with EXUM's confidence tower")
    >>> parser = argparse.ArgumentParser()
    >>> add_flags(parser, Settings, ["epochs", "exum"])
    >>> flag_values(parser.parse_args(["--epochs", "5"]), Settings, ["epochs", "exum"])
    {'epochs': 5, 'exum': False}
"""
import dataclasses
import typing

# Metadata keys of a setting; everything else argparse takes is derived.
_KEYS = ("help", "flag", "choices", "type", "metavar", "action")


def setting(default, *, help, **metadata):  # pylint: disable=redefined-builtin
    """A dataclass field with `default` and its command-line description.

    Args:
      default: the default value (immutable: tuples, not lists).
      help: the `--help` text (an argparse template).
      **metadata: optional `flag` ("--saved-models"; default `--field-name`),
        `choices`, `type` (a callable parsing the text), `metavar`, `action`
        ("append" for a repeatable flag that collects a tuple).
    """
    unknown = sorted(set(metadata) - set(_KEYS))
    if unknown:
        raise TypeError(f"setting() got unknown metadata {unknown}; use {', '.join(_KEYS)}.")
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def _value_type(annotation):
    """float for `Optional[float]`, int for `int`, ...; None when not a plain scalar."""
    arguments = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) is typing.Union and len(arguments) == 1:
        annotation = arguments[0]
    return annotation if annotation in (int, float, str) else None


def flag_name(field):
    """The command-line flag of a dataclass field: metadata `flag`, else `--field-name`."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _fields(settings_class, names):
    by_name = {field.name: field for field in dataclasses.fields(settings_class)}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"{settings_class.__name__} has no settings {unknown}.")
    return [by_name[name] for name in names]


def add_flags(parser, settings_class, names, overrides=None):
    """Adds one flag per field of `settings_class` named in `names`.

    Args:
      parser: an `argparse.ArgumentParser` or argument group.
      settings_class: a dataclass whose fields were made with `setting`.
      names: the fields to expose, in `--help` order.
      overrides: optional {name: {argparse keyword: value}} for one command
        (e.g. another default meaning "detect", or no `choices`).
    """
    overrides = overrides or {}
    for field in _fields(settings_class, names):
        spec = {key: value for key, value in field.metadata.items() if key != "flag"}
        spec.update(overrides.get(field.name, {}))
        options = {"help": spec.pop("help", None)}
        if spec.get("action") == "append":
            options.update(action="append", default=None)   # None: keep the default
        elif isinstance(field.default, bool):
            # A True default is turned off by a negative flag (metadata `flag`, e.g.
            # --no-cache): given, the flag's own attribute is True and the setting False.
            options.update(action="store_true", default=False)
        else:
            value_type = spec.get("type") or _value_type(field.type)
            if value_type is None:
                raise TypeError(f"{settings_class.__name__}.{field.name} ({field.type}) needs a "
                                "`type` in its setting() metadata to be a flag.")
            options.update(type=value_type, default=field.default)
        spec.pop("action", None)
        spec.pop("type", None)
        options.update(spec)
        parser.add_argument(flag_name(field), **options)


def flag_dest(field):
    """The attribute of the parsed arguments (argparse's: `--saved-models` -> saved_models)."""
    return flag_name(field).lstrip("-").replace("-", "_")


def flag_values(args, settings_class, names):
    """{field: value} of the parsed flags of `names`; unset repeatable flags are left out."""
    values = {}
    for field in _fields(settings_class, names):
        value = getattr(args, flag_dest(field))
        if field.metadata.get("action") == "append":
            if value is None:
                continue
            value = tuple(value)
        elif field.default is True:
            value = not value   # a negative flag such as --no-cache
        values[field.name] = value
    return values
