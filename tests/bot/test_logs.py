"""Logs: one JSON object per line, the client id on every line, tracebacks kept on that line."""

from __future__ import annotations

import json
import logging

from booking_bot.logs import JsonFormatter


def test_every_line_is_json_with_the_client_id_and_extra_fields() -> None:
    formatter = JsonFormatter("client_001")
    record = logging.LogRecord("booking_bot", logging.INFO, __file__, 1, "booking created", (), None)
    record.event = "booking_created"
    record.booking_id = 7
    entry = json.loads(formatter.format(record))
    assert entry["client_id"] == "client_001"
    assert (entry["event"], entry["booking_id"], entry["level"]) == ("booking_created", 7, "info")


def test_an_exception_stays_on_one_line() -> None:
    formatter = JsonFormatter("client_001")
    try:
        raise ValueError("boom")
    except ValueError as exc:
        record = logging.LogRecord(
            "booking_bot",
            logging.ERROR,
            __file__,
            1,
            "handler failed",
            (),
            (type(exc), exc, exc.__traceback__),
        )
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["error"] == "ValueError: boom"
    assert "Traceback" in entry["traceback"]
