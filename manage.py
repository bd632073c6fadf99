#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

`--env-file PATH`, anywhere on the command line of any command, reads PATH instead of
`.env` (as ENV_FILE=PATH does): it is taken out of the arguments here, before the settings
are read, since they are read before any command parses its own options."""

import os
import sys

ENV_FILE_FLAG = "--env-file"


class UsageError(Exception):
    """A command line this file refuses: one line, exit status 2."""


def take_env_file(argv: list[str]) -> list[str]:
    """`argv` without `--env-file PATH` (or `--env-file=PATH`), whose PATH, relative to the
    current directory, becomes ENV_FILE. Arguments after `--` are left alone."""
    kept, path, index = [], None, 0
    while index < len(argv):
        argument = argv[index]
        if argument == "--":
            kept += argv[index:]
            break
        if argument == ENV_FILE_FLAG:
            if index + 1 >= len(argv) or not argv[index + 1].strip():
                raise UsageError(f"{ENV_FILE_FLAG} needs a path: {ENV_FILE_FLAG} PATH.")
            path, index = argv[index + 1], index + 2
            continue
        if argument.startswith(f"{ENV_FILE_FLAG}="):
            path = argument.split("=", 1)[1]
            if not path.strip():
                raise UsageError(f"{ENV_FILE_FLAG} needs a path: {ENV_FILE_FLAG} PATH.")
        else:
            kept.append(argument)
        index += 1
    if path is not None:
        path = os.path.abspath(path)
        if not os.path.exists(path):
            raise UsageError(f"{ENV_FILE_FLAG} names {path}, which does not exist.")
        os.environ["ENV_FILE"] = path
    return kept


def main():
    try:
        argv = take_env_file(sys.argv)
    except UsageError as error:
        sys.stderr.write(f"{error}\n")
        sys.exit(2)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(argv)
    except ImproperlyConfigured as error:
        # A bad setting (such as a DATABASE_URL that cannot be parsed): one line, exit 2.
        sys.stderr.write(f"Configuration error: {error}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
