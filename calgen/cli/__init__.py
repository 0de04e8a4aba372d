"""The command line: the argument grammar (`arguments`), one small function per command
(`commands`), and the project settings they read (`settings`)."""

from calgen.cli.commands import main

__all__ = ["main"]
