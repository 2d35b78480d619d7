"""The conversation as a person would read it: who said what, what the bot showed, its buttons.

`Anna > text` is what Anna sends the bot (or the button she taps); `Anna < text` is what the bot
shows her, `(edited)` when it updates a message in place instead of sending a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TextIO

from harness.telegram import SentMessage

MAX_ROWS = 6  # a calendar is 4 weeks of buttons: show its top, say how much is left out
LEGEND = "Anna > what a person sends the bot;  Anna < what the bot shows them;  [..] a button"


@dataclass
class Transcript:
    out: TextIO
    lines: list[str] = field(default_factory=list)
    width: int = 6  # of the name column

    def _emit(self, head: str, text: str) -> None:
        first, *rest = text.splitlines() or [""]
        for line in [f"{head}{first}", *(" " * len(head) + line for line in rest)]:
            self.lines.append(line.rstrip())
            print(line.rstrip(), file=self.out, flush=True)

    def heading(self, text: str) -> None:
        self._emit("", f"\n== {text} ==")

    def note(self, text: str) -> None:
        self._emit("# ", text)

    def said(self, who: str, text: str) -> None:
        self._emit(f"{who:<{self.width}}> ", text)

    def pressed(self, who: str, label: str) -> None:
        self._emit(f"{who:<{self.width}}> ", f"taps [{label}]")

    def shown(self, to: str, message: SentMessage) -> None:
        edited = "(edited) " if message.method != "sendMessage" else ""
        self._emit(f"{to:<{self.width}}< ", edited + message.text + _keyboard(message.reply_markup))


def _keyboard(markup: dict[str, Any] | None) -> str:
    if not markup:
        return ""
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    shown = [" ".join(f"[{button.get('text', '')}]" for button in row) for row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        shown.append(f"... {len(rows) - MAX_ROWS} more rows of buttons")
    return "\n" + "\n".join(shown) if shown else ""
