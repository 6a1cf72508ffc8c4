"""A headless Chromium driven over the DevTools protocol, through a pipe (no extra package).

``--remote-debugging-pipe`` makes Chromium read protocol messages on fd 3 and write them on
fd 4, each a JSON object followed by a NUL byte; this module hands it the two ends of two
pipes and speaks the protocol's few commands the docs test needs: open a page, wait for its
``load`` event, evaluate a script (awaiting its promise), take a screenshot, and record
every network request and JavaScript exception on the way.
"""

import base64
import contextlib
import fcntl
import json
import os
import pathlib
import selectors
import shutil
import subprocess
import time
from typing import Any

FLAGS = (
  "--headless",
  "--no-sandbox",  # as root
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--no-default-browser-check",
  "--mute-audio",
  "--window-size=1280,1600",
)


def find_chromium() -> str | None:
  """Debian's ``chromium`` (or another Chromium-family binary on PATH)."""
  for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
    path = shutil.which(name)
    if path:
      return path
  return None


class ProtocolError(RuntimeError):
  pass


class Chromium:
  """One browser process, one page target, flat protocol sessions."""

  def __init__(self, binary: str, user_data_dir: pathlib.Path, timeout: float = 60.0):
    self.timeout = timeout
    # High descriptors, so that bash's ``3<&R 4>&W`` cannot clobber one with the other.
    to_child_r, to_child_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in os.pipe())
    from_child_r, from_child_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in os.pipe())
    args = " ".join(
      [
        f"exec {binary}",
        *FLAGS,
        f"--user-data-dir={user_data_dir}",
        "--remote-debugging-pipe",
        "about:blank",
        f"3<&{to_child_r} 4>&{from_child_w} {to_child_r}<&- {from_child_w}>&-",
      ]
    )
    self.process = subprocess.Popen(
      ["bash", "-c", args],
      pass_fds=(to_child_r, from_child_w),
      stdin=subprocess.DEVNULL,
      stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL,
    )
    os.close(to_child_r)
    os.close(from_child_w)
    self._write = os.fdopen(to_child_w, "wb", buffering=0)
    self._read_fd = from_child_r
    self._buffer = b""
    self._next_id = 0
    self.events: list[dict[str, Any]] = []
    self.session = ""

  def close(self) -> None:
    with contextlib.suppress(ProtocolError, OSError, TimeoutError):
      self.send("Browser.close", session=False)
    try:
      self.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
      self.process.kill()
      self.process.wait()
    self._write.close()
    os.close(self._read_fd)

  def __enter__(self) -> "Chromium":
    try:
      targets = self.send("Target.getTargets", session=False)["targetInfos"]
      page = next(t for t in targets if t["type"] == "page")
      attached = self.send(
        "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, session=False
      )
      self.session = attached["sessionId"]
      for domain in ("Page", "Network", "Runtime"):
        self.send(f"{domain}.enable")
    except BaseException:
      self.close()
      raise
    return self

  def __exit__(self, *exc: object) -> None:
    self.close()

  def _message(self, deadline: float) -> dict[str, Any]:
    while b"\0" not in self._buffer:
      remaining = deadline - time.monotonic()
      if remaining <= 0:
        raise TimeoutError("Chromium sent nothing in time")
      with selectors.DefaultSelector() as selector:
        selector.register(self._read_fd, selectors.EVENT_READ)
        if not selector.select(remaining):
          continue
      chunk = os.read(self._read_fd, 1 << 20)
      if not chunk:
        raise ProtocolError(f"Chromium closed the pipe (exit code {self.process.poll()})")
      self._buffer += chunk
    message, _, self._buffer = self._buffer.partition(b"\0")
    return json.loads(message)

  def send(self, method: str, params: dict | None = None, *, session: bool = True) -> dict:
    self._next_id += 1
    request: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
    if session:
      request["sessionId"] = self.session
    self._write.write(json.dumps(request).encode() + b"\0")
    deadline = time.monotonic() + self.timeout
    while True:
      message = self._message(deadline)
      if message.get("id") == self._next_id:
        if "error" in message:
          raise ProtocolError(f"{method}: {message['error']}")
        return message.get("result", {})
      if "method" in message:
        self.events.append(message)

  def wait_for(self, method: str) -> dict[str, Any]:
    """The first event ``method`` since the last :meth:`open` (already received, or next)."""
    for event in self.events:
      if event["method"] == method:
        return event
    deadline = time.monotonic() + self.timeout
    while True:
      message = self._message(deadline)
      if "method" in message:
        self.events.append(message)
        if message["method"] == method:
          return message

  def open(self, url: str) -> None:
    """Navigates and waits for the page's ``load`` event (scripts, styles and images)."""
    self.events.clear()
    result = self.send("Page.navigate", {"url": url})
    if "errorText" in result:
      raise ProtocolError(f"{url}: {result['errorText']}")
    self.wait_for("Page.loadEventFired")

  def evaluate(self, expression: str) -> Any:
    result = self.send(
      "Runtime.evaluate",
      {"expression": expression, "awaitPromise": True, "returnByValue": True},
    )
    if "exceptionDetails" in result:
      raise ProtocolError(f"script failed: {result['exceptionDetails']}")
    return result["result"].get("value")

  def screenshot(self, path: pathlib.Path) -> None:
    data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
    path.write_bytes(base64.b64decode(data["data"]))

  def requested_urls(self) -> list[str]:
    sent = [e for e in self.events if e["method"] == "Network.requestWillBeSent"]
    return [e["params"]["request"]["url"] for e in sent]

  def failed_requests(self) -> list[str]:
    urls = {
      e["params"]["requestId"]: e["params"]["request"]["url"]
      for e in self.events
      if e["method"] == "Network.requestWillBeSent"
    }
    return [
      f"{urls.get(e['params']['requestId'], '?')}: {e['params'].get('errorText')}"
      for e in self.events
      if e["method"] == "Network.loadingFailed"
    ]

  def exceptions(self) -> list[str]:
    return [
      e["params"]["exceptionDetails"].get("exception", {}).get("description", "")
      or e["params"]["exceptionDetails"].get("text", "")
      for e in self.events
      if e["method"] == "Runtime.exceptionThrown"
    ]
