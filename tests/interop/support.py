"""Constants and helpers shared by the interop tests (imported by conftest and the tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "examples" / "everything"

TEST_TIMEOUT = float(os.environ.get("INTEROP_TEST_TIMEOUT", "60"))
"""Hard deadline for one async test (connect, calls and teardown)."""

CALL_TIMEOUT = 20.0
"""Read timeout handed to the clients for each request."""

READY_TIMEOUT = 20.0
"""How long a freshly started HTTP server may take to accept connections."""

LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"

SERVER_NAME = "ferromcp-everything"

EXPECTED_TOOLS = {
    "test_simple_text",
    "test_image_content",
    "test_audio_content",
    "test_embedded_resource",
    "test_multiple_content_types",
    "test_error_handling",
    "test_tool_with_logging",
    "test_tool_with_progress",
    "test_sampling",
    "test_elicitation",
    "test_header_param",
    "test_input_required_result_elicitation",
}

EXPECTED_PROMPTS = {
    "test_simple_prompt",
    "test_prompt_with_arguments",
    "test_prompt_with_embedded_resource",
    "test_prompt_with_image",
}

EXPECTED_RESOURCES = {"test://static-text", "test://static-binary", "test://watched-resource"}

STATIC_TEXT = "This is the content of the static text resource."
SIMPLE_TEXT = "This is a simple text response for testing."
LOG_MESSAGES = ["Tool execution started", "Tool processing data", "Tool execution completed"]


# --------------------------------------------------------------------------- helpers


def texts(content) -> list[str]:
    """The text of every text block in a content list."""
    return [block.text for block in content if getattr(block, "type", None) == "text"]


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(proc: subprocess.Popen, port: int, deadline: float) -> bool:
    """True once 127.0.0.1:port accepts connections; False if the process died or time ran out."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate, then kill if it does not exit within 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
