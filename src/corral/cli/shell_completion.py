"""Tab completion for `corral shell`: command names, then znode paths asked from the server.

As zkCli's JLineZNodeCompleter: a word starting with `/` completes to the children of its parent
(`/zoo` → `/zookeeper`, `/zookeeper/` → `config`, `quota`); the first word completes to a command
name. The server is asked once per completion, with a short bound, so a slow or absent server never
freezes the prompt.
"""

from __future__ import annotations

from collections.abc import Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from .shell_commands import ZkShell

__all__ = ["ShellCompleter"]


class ShellCompleter(Completer):
    def __init__(self, shell: ZkShell, commands: list[str]) -> None:
        self.shell = shell
        self.commands = commands

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        token = "" if not text or text[-1].isspace() else text.split()[-1]
        if token.startswith("/"):
            idx = token.rfind("/") + 1
            prefix = token[idx:]
            parent = "/" if idx == 1 else token[:idx - 1]
            for child in self.shell.children_for_completion(parent):
                if child.startswith(prefix):
                    yield Completion(child, start_position=-len(prefix))
            return
        if len(text.split()) <= 1 and not (text and text[-1].isspace()):
            for cmd in self.commands:
                if cmd.startswith(token):
                    yield Completion(cmd, start_position=-len(token))
