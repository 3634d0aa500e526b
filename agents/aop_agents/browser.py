"""The worker's browser: one Chromium per process, a fresh isolated context per job.

Launching Chromium costs about as much as a whole short job, so a worker keeps one browser
for its lifetime and gives every job its own ``BrowserContext`` (no cookies, storage or
cache shared between jobs, which may act for different organizations). The browser is
started on first use and started again if it crashed or disconnected.

When a job fails inside ``BrowserPool.context`` the pool saves a screenshot and the HTML of
every open page under the artifacts directory, with secrets scrubbed first, keeps that
directory under a size cap, and logs where it wrote them.

The second half of the module is what agents share to drive a page through a flow
(``PageFlow``) and to turn Playwright and HTTP failures into the typed errors of
``aop_agents.agents.base`` (``classify_browser_error``, ``classify_http_status``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    Frame,
    Locator,
    Page,
    Playwright,
    Request,
    Response,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from pydantic import BaseModel, ValidationError

from aop_agents.agents.base import (
    AgentContext,
    AgentError,
    InvalidConfig,
    ProgressFn,
    StoreTimeout,
    StoreUnreachable,
    UnexpectedPage,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

DEFAULT_CHROMIUM_PATH = "/usr/lib/chromium/chromium"

#: Flags for Debian's Chromium in a container: no sandbox (no user namespaces in most
#: pods), no GPU, and none of the background traffic a job neither needs nor should leak.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)

#: Shapes of the credentials the agents create; scrubbed from every saved artifact even
#: when the agent forgot to register them.
SECRET_PATTERNS: tuple[str, ...] = (
    r"shp[a-z]{2}_[A-Za-z0-9]{8,}",  # Shopify tokens and secrets: shpat_, shpss_, shpca_ …
    r"c[ks]_[0-9a-fA-F]{40}",  # WooCommerce consumer key / secret
)
REDACTED = "[redacted]"

_ARTIFACTS_ATTR = "aop_artifacts_dir"


class BrowserUnavailable(AgentError):
    """Chromium could not be started on this worker (missing binary, out of memory)."""

    reason = "BrowserUnavailable"


@dataclass(frozen=True)
class BrowserSettings:
    """How the pool launches Chromium and keeps failure artifacts; read once per process."""

    executable_path: str = DEFAULT_CHROMIUM_PATH
    """The real Chromium binary (``AOP_CHROMIUM_PATH``); Debian's ``/usr/bin/chromium`` is
    a shell wrapper Playwright cannot drive."""

    artifacts_dir: Path = field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "aop-artifacts"
    )
    """Where screenshots and HTML of failed jobs go (``AOP_ARTIFACTS_DIR``)."""

    artifacts_max_bytes: int = 50 * 1024 * 1024
    """Cap on the artifacts directory (``AOP_ARTIFACTS_MAX_BYTES``); the oldest failures
    are deleted first. The newest failure is always kept."""

    launch_timeout_seconds: float = 30.0
    """How long a Chromium launch may take before the job fails as ``BrowserUnavailable``."""

    artifact_timeout_seconds: float = 5.0
    """Budget for each screenshot/HTML capture: a hung page must not hang the failure path."""

    extra_args: tuple[str, ...] = ()
    """More Chromium flags (``AOP_CHROMIUM_ARGS``, space-separated)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BrowserSettings:
        """Settings from ``AOP_*`` environment variables, defaults for the rest."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            executable_path=env.get("AOP_CHROMIUM_PATH") or defaults.executable_path,
            artifacts_dir=Path(env["AOP_ARTIFACTS_DIR"])
            if env.get("AOP_ARTIFACTS_DIR")
            else defaults.artifacts_dir,
            artifacts_max_bytes=int(env["AOP_ARTIFACTS_MAX_BYTES"])
            if env.get("AOP_ARTIFACTS_MAX_BYTES")
            else defaults.artifacts_max_bytes,
            extra_args=tuple(env.get("AOP_CHROMIUM_ARGS", "").split()),
        )


def artifacts_of(exc: BaseException) -> Path | None:
    """The artifacts directory the pool saved for this failure, if any."""
    path = getattr(exc, _ARTIFACTS_ATTR, None)
    return path if isinstance(path, Path) else None


def has_display(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a headed browser could open a window here."""
    env = os.environ if environ is None else environ
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


class BrowserPool:
    """One Chromium for the worker process and a fresh ``BrowserContext`` per job.

    ``async with pool.context(label="ns/name") as page:`` gives a new page in a new,
    isolated context that is closed at the end whatever happens. ``close()`` stops the
    browser and the Playwright driver; the pool can be used again afterwards.
    """

    def __init__(
        self, executable_path: str | None = None, *, settings: BrowserSettings | None = None
    ) -> None:
        base = settings or BrowserSettings.from_env()
        if executable_path is not None:
            base = dataclasses.replace(base, executable_path=executable_path)
        self.settings = base
        self._playwright: Playwright | None = None
        # One browser per mode: headed runs (rare, debugging) cannot share a headless one.
        self._browsers: dict[bool, Browser] = {}
        self._lock = asyncio.Lock()
        #: How many times Chromium was launched (first start plus relaunches after crashes).
        self.launches = 0

    @property
    def artifacts_dir(self) -> Path:
        return self.settings.artifacts_dir

    @property
    def connected(self) -> bool:
        """Whether a browser is running (False before the first job and after a crash)."""
        return any(browser.is_connected() for browser in self._browsers.values())

    async def _browser(self, headless: bool) -> Browser:
        """The running browser for this mode, launched (again) when missing or dead."""
        browser = self._browsers.get(headless)
        if browser is not None and browser.is_connected():
            return browser
        async with self._lock:
            browser = self._browsers.get(headless)
            if browser is not None and browser.is_connected():
                return browser
            if browser is not None:
                log.warning("Chromium disconnected (crashed or killed); launching it again")
                with contextlib.suppress(PlaywrightError):
                    await browser.close()
            browser = await self._launch(headless)
            self._browsers[headless] = browser
            return browser

    async def _launch(self, headless: bool) -> Browser:
        path = self.settings.executable_path
        if not await asyncio.to_thread(os.path.exists, path):
            raise BrowserUnavailable(
                f"Chromium not found at {path} (set AOP_CHROMIUM_PATH or install chromium)"
            )
        args = [*CHROMIUM_ARGS, *self.settings.extra_args]
        if headless:
            args.insert(0, "--headless")
        try:
            browser = await self._start_chromium(path, headless, args)
        except PlaywrightError:
            # The Playwright driver may have died along with the browser: restart it once.
            log.warning("Chromium did not start; restarting the Playwright driver", exc_info=True)
            if self._playwright is not None:
                with contextlib.suppress(Exception):
                    await self._playwright.stop()
                self._playwright = None
            try:
                browser = await self._start_chromium(path, headless, args)
            except PlaywrightError as e:
                raise BrowserUnavailable(f"Chromium at {path} did not start") from e
        self.launches += 1
        log.info("Chromium %s started (%s)", browser.version, "headless" if headless else "headed")
        return browser

    async def _start_chromium(self, path: str, headless: bool, args: list[str]) -> Browser:
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        return await self._playwright.chromium.launch(
            executable_path=path,
            headless=headless,
            args=args,
            timeout=self.settings.launch_timeout_seconds * 1000,
        )

    async def _new_context(self, headless: bool) -> BrowserContext:
        for attempt in (1, 2):
            browser = await self._browser(headless)
            try:
                return await browser.new_context(
                    viewport={"width": 1280, "height": 900},
                    locale="en-US",
                    accept_downloads=False,
                    # Service workers outlive a page and could carry state between requests.
                    service_workers="block",
                )
            except PlaywrightError:
                # Died between the liveness check and the call: launch once more.
                if browser.is_connected() or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def context(
        self,
        headless: bool = True,
        label: str = "",
        *,
        timeout_seconds: float | None = None,
        redact: Iterable[str] = (),
    ) -> AsyncIterator[Page]:
        """A page in a fresh isolated context, closed at the end; artifacts on failure.

        ``redact`` lists extra literal values (the store password, say) to scrub from the
        artifacts besides the known credential shapes.
        """
        if not headless and not has_display():
            log.info("job %s asked for a headed browser but no display is set; headless", label)
            headless = True
        context = await self._new_context(headless)
        try:
            if timeout_seconds is not None:
                context.set_default_timeout(timeout_seconds * 1000)
                context.set_default_navigation_timeout(timeout_seconds * 1000)
            page = await context.new_page()
            try:
                yield page
            except Exception as exc:
                path = await self._save_artifacts(context, exc, label, tuple(redact))
                if path is not None:
                    setattr(exc, _ARTIFACTS_ATTR, path)
                    exc.add_note(f"browser artifacts: {path}")
                raise
        finally:
            try:
                await context.close()
            except PlaywrightError:
                # The browser is already gone; nothing is left to close.
                log.debug("context of job %s was already closed", label)

    async def close(self) -> None:
        """Stop every browser and the Playwright driver."""
        async with self._lock:
            browsers, self._browsers = list(self._browsers.values()), {}
            for browser in browsers:
                with contextlib.suppress(PlaywrightError):
                    await browser.close()
            if self._playwright is not None:
                playwright, self._playwright = self._playwright, None
                await playwright.stop()

    async def __aenter__(self) -> BrowserPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- failure artifacts -------------------------------------------------------------

    async def _save_artifacts(
        self, context: BrowserContext, exc: BaseException, label: str, literals: tuple[str, ...]
    ) -> Path | None:
        """Screenshot + scrubbed HTML of every page of a failed job; never raises."""
        try:
            return await self._write_artifacts(context, exc, label, literals)
        except Exception:  # The original failure matters more than its artifacts.
            log.warning("could not save browser artifacts for job %s", label, exc_info=True)
            return None

    async def _write_artifacts(
        self, context: BrowserContext, exc: BaseException, label: str, literals: tuple[str, ...]
    ) -> Path | None:
        pages = [p for p in context.pages if not p.is_closed()]
        if not pages:
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{_safe_name(label) or 'job'}-{secrets.token_hex(3)}"
        directory = self.settings.artifacts_dir / name
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        budget = self.settings.artifact_timeout_seconds
        urls = []
        for index, page in enumerate(pages):
            urls.append(safe_url(page.url))
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await asyncio.wait_for(
                    page.evaluate(_REDACT_JS, [list(SECRET_PATTERNS), list(literals)]), budget
                )
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await page.screenshot(
                    path=str(directory / f"page-{index}.png"),
                    full_page=True,
                    timeout=budget * 1000,
                    animations="disabled",
                )
            with contextlib.suppress(PlaywrightError, TimeoutError):
                html = await asyncio.wait_for(page.content(), budget)
                await asyncio.to_thread(
                    (directory / f"page-{index}.html").write_text,
                    redact_text(html, literals),
                    "utf-8",
                )
        summary = [
            f"job: {label}",
            f"error: {type(exc).__name__}: {redact_text(str(exc), literals)}",
            *(f"page {i}: {url}" for i, url in enumerate(urls)),
        ]
        if isinstance(exc, AgentError):
            summary.insert(2, f"reason: {exc.reason}")
        await asyncio.to_thread(
            (directory / "error.txt").write_text, "\n".join(summary) + "\n", "utf-8"
        )
        await asyncio.to_thread(
            prune_artifacts, self.settings.artifacts_dir, self.settings.artifacts_max_bytes, name
        )
        log.warning(
            "job %s failed (%s) at %s; artifacts in %s",
            label,
            type(exc).__name__,
            urls[-1],
            directory,
        )
        return directory


def prune_artifacts(root: Path, max_bytes: int, keep: str | None = None) -> list[Path]:
    """Delete the oldest artifact directories until ``root`` is under ``max_bytes``.

    ``keep`` (the newest failure) is never deleted, even when it alone is over the cap.
    Returns what was deleted.
    """
    entries: list[tuple[float, int, Path]] = []
    for child in root.iterdir() if root.is_dir() else ():
        files = [child] if child.is_file() else [f for f in child.rglob("*") if f.is_file()]
        size = sum(f.stat().st_size for f in files)
        entries.append((child.stat().st_mtime, size, child))
    total = sum(size for _, size, _ in entries)
    deleted: list[Path] = []
    # Names start with a UTC timestamp, so name order is age order even when mtimes tie.
    for _, size, path in sorted(entries, key=lambda e: (e[0], e[2].name)):
        if total <= max_bytes:
            break
        if path.name == keep:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        total -= size
        deleted.append(path)
    return deleted


def redact_text(text: str, literals: Iterable[str] = ()) -> str:
    """``text`` with credential-shaped values and the given literals replaced."""
    for pattern in SECRET_PATTERNS:
        text = re.sub(pattern, REDACTED, text)
    for literal in literals:
        if literal:
            text = text.replace(literal, REDACTED)
    return text


def safe_url(url: str) -> str:
    """A URL fit for logs and messages: scheme, host and path, no query or fragment."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url.split("?", 1)[0].split("#", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_.")[:60]


# Runs in the page before a failure snapshot: scrubs typed and rendered values, so the
# screenshot shows no secret either.
_REDACT_JS = """
([patterns, literals]) => {
  const res = patterns.map((p) => new RegExp(p, 'g'));
  const scrub = (s) => {
    if (!s) return s;
    let out = s;
    for (const r of res) out = out.replace(r, '[redacted]');
    for (const l of literals) if (l) out = out.split(l).join('[redacted]');
    return out;
  };
  for (const el of document.querySelectorAll('input, textarea')) {
    if (el.type === 'password') {
      el.value = '';
      if (el.hasAttribute('value')) el.setAttribute('value', '');
      continue;
    }
    const v = scrub(el.value);
    if (v !== el.value) el.value = v;
    if (el.hasAttribute('value')) el.setAttribute('value', scrub(el.getAttribute('value')));
  }
  const root = document.body || document.documentElement;
  if (!root) return;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const v = scrub(n.nodeValue);
    if (v !== n.nodeValue) n.nodeValue = v;
  }
}
"""


# -- error classification --------------------------------------------------------------

#: Chromium network errors meaning "the store's server could not be reached".
_UNREACHABLE_CODES = frozenset(
    {
        "ERR_CONNECTION_REFUSED",
        "ERR_CONNECTION_RESET",
        "ERR_CONNECTION_CLOSED",
        "ERR_CONNECTION_FAILED",
        "ERR_CONNECTION_ABORTED",
        "ERR_NAME_NOT_RESOLVED",
        "ERR_NAME_RESOLUTION_FAILED",
        "ERR_ADDRESS_UNREACHABLE",
        "ERR_ADDRESS_INVALID",
        "ERR_INTERNET_DISCONNECTED",
        "ERR_NETWORK_CHANGED",
        "ERR_NETWORK_ACCESS_DENIED",
        "ERR_EMPTY_RESPONSE",
        "ERR_PROXY_CONNECTION_FAILED",
        "ERR_TUNNEL_CONNECTION_FAILED",
        "ERR_SSL_PROTOCOL_ERROR",
        "ERR_UNSAFE_PORT",
    }
)
_TIMEOUT_CODES = frozenset({"ERR_TIMED_OUT", "ERR_CONNECTION_TIMED_OUT"})
_CLOSED_MARKERS = (
    "target page, context or browser has been closed",
    "browser has been closed",
    "target closed",
    "browser has disconnected",
    "connection closed",
)


def _where(step: str) -> str:
    return f" during step {step!r}" if step else ""


def classify_browser_error(exc: BaseException, *, step: str = "") -> AgentError:
    """The typed agent error for a failure raised while driving the browser.

    The message is built here from the error's kind only: Playwright's own text carries a
    call log that may quote a value typed into a field, so it never reaches the message.
    """
    if isinstance(exc, AgentError):
        error = exc
    elif isinstance(exc, PlaywrightTimeoutError | TimeoutError):
        error = StoreTimeout(f"the store did not answer in time{_where(step)}")
    elif isinstance(exc, PlaywrightError):
        text = str(exc)
        code_match = re.search(r"net::(ERR_[A-Z0-9_]+)", text)
        code = code_match.group(1) if code_match else None
        url_match = re.search(r"\bat (\S+://\S+)", text)
        origin = ""
        if url_match:
            parts = urlsplit(url_match.group(1))
            origin = f" ({parts.scheme}://{parts.netloc})"
        if code in _TIMEOUT_CODES:
            error = StoreTimeout(f"connection timed out{origin}{_where(step)}")
        elif code is not None and (code in _UNREACHABLE_CODES or code.startswith("ERR_CERT_")):
            error = StoreUnreachable(f"store unreachable: net::{code}{origin}{_where(step)}")
        elif code is not None:
            error = AgentError(
                f"navigation failed: net::{code}{origin}{_where(step)}", reason="NavigationFailed"
            )
        elif any(marker in text.lower() for marker in _CLOSED_MARKERS):
            error = AgentError(
                f"the browser closed unexpectedly{_where(step)}", reason="BrowserCrashed"
            )
        else:
            # Strict-mode violations, "not an <input>", detached elements: the page is not
            # what the step expected.
            error = UnexpectedPage(f"the page did not behave as expected{_where(step)}")
    else:
        error = AgentError(f"{type(exc).__name__}{_where(step)}", reason="AgentFailed")
    artifacts = artifacts_of(exc)
    if artifacts is not None and artifacts_of(error) is None:
        setattr(error, _ARTIFACTS_ATTR, artifacts)
    return error


def classify_http_status(status: int, *, url: str = "", step: str = "") -> AgentError | None:
    """The typed error for an HTTP status of a store page or API call; None when fine."""
    where = f" ({safe_url(url)})" if url else ""
    if status < 400:
        return None
    if status in (401, 403):
        return AgentError(
            f"the store refused access: HTTP {status}{where}{_where(step)}",
            reason="AccessDenied",
            permanent=True,
        )
    if status == 429:
        return AgentError(
            f"the store is rate limiting: HTTP 429{where}{_where(step)}", reason="StoreRateLimited"
        )
    if status in (408, 504):
        return StoreTimeout(f"the store timed out: HTTP {status}{where}{_where(step)}")
    if status >= 500:
        return AgentError(
            f"the store answered HTTP {status}{where}{_where(step)}", reason="StoreUnavailable"
        )
    return UnexpectedPage(f"the store answered HTTP {status}{where}{_where(step)}")


# -- driving a page through a flow -----------------------------------------------------


class PageFlow:
    """One page driven through the steps of a flow.

    Keeps the current step (for progress and error messages), watches main-frame
    navigations (HTTP status of each document) and in-flight requests, and waits for the
    page to reach one of several named states. A wait that ends with no state reached is
    a ``StoreTimeout`` while the page is still loading and an ``UnexpectedPage`` otherwise.
    """

    def __init__(self, page: Page, progress: ProgressFn, *, timeout_seconds: float) -> None:
        self.page = page
        self.timeout = timeout_seconds
        self.step = "start"
        self._progress = progress
        self._navigations = 0
        self._navigated = asyncio.Event()
        self._document_status: int | None = None
        self._document_url = ""
        self._inflight: set[Request] = set()
        page.on("framenavigated", self._on_navigated)
        page.on("response", self._on_response)
        page.on("request", self._on_request)
        page.on("requestfinished", self._on_request_done)
        page.on("requestfailed", self._on_request_done)

    def _on_request(self, request: Request) -> None:
        self._inflight.add(request)

    def _on_request_done(self, request: Request) -> None:
        self._inflight.discard(request)

    def _on_navigated(self, frame: Frame) -> None:
        if frame == self.page.main_frame:
            self._navigations += 1
            self._navigated.set()

    def _on_response(self, response: Response) -> None:
        request = response.request
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self._document_status = response.status
            self._document_url = response.url

    async def enter(self, step: str, percent: int, message: str) -> None:
        """Start ``step`` and report it."""
        self.step = step
        await self._progress(percent, message, step)

    def check_document(self) -> None:
        """Raise the typed error if the current document is an HTTP error page."""
        if self._document_status is not None:
            error = classify_http_status(
                self._document_status, url=self._document_url, step=self.step
            )
            if error is not None:
                raise error

    async def goto(self, url: str) -> None:
        """Open ``url`` and fail on network errors and HTTP error pages."""
        try:
            response = await self.page.goto(url, wait_until="domcontentloaded")
        except PlaywrightError as e:
            raise classify_browser_error(e, step=self.step) from e
        if response is not None:
            self._document_status = response.status
            self._document_url = response.url
        self.check_document()

    async def submit(self, locator: Locator, *, press: str | None = None) -> None:
        """Click ``locator`` (or press a key in it) and wait for the page to navigate."""
        before = self._navigations
        self._navigated.clear()
        if press is None:
            await locator.click()
        else:
            await locator.press(press)
        deadline = time.monotonic() + self.timeout
        while self._navigations == before:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreTimeout(f"the store did not answer the form in time{_where(self.step)}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._navigated.wait(), remaining)
            self._navigated.clear()

    async def fill_secret(self, locator: Locator, value: str, *, what: str = "password") -> None:
        """Type a secret; on failure the error carries no Playwright call log (it quotes it)."""
        try:
            await locator.fill(value)
        except PlaywrightError:
            raise self._stuck_error(f"could not type the {what}") from None

    async def wait_for_any(
        self, states: Mapping[str, Locator], *, within: float | None = None
    ) -> str:
        """Wait until one of ``states`` (checked in order) is visible; return its name.

        An HTTP error document fails at once unless it shows one of the states (a form
        re-rendered with its validation errors, say, is answered 422).
        """
        deadline = time.monotonic() + (self.timeout if within is None else within)
        while True:
            for name, locator in states.items():
                with contextlib.suppress(PlaywrightError):
                    if await locator.first.is_visible():
                        return name
            self.check_document()
            if time.monotonic() >= deadline:
                break
            # Polling against a deadline: the states are alternatives on pages that may be
            # re-rendered or replaced by navigation at any time.
            await asyncio.sleep(0.05)
        raise await self._stuck(list(states))

    async def wait_for_value(
        self, field: Locator, accept: Callable[[str], bool], *, what: str
    ) -> str:
        """Wait until the input ``field`` holds a value ``accept`` takes (a reveal)."""
        deadline = time.monotonic() + self.timeout
        while True:
            self.check_document()
            with contextlib.suppress(PlaywrightError):
                value = (await field.first.input_value(timeout=1000)).strip()
                if accept(value):
                    return value
            if time.monotonic() >= deadline:
                raise await self._stuck([what])
            await asyncio.sleep(0.05)

    async def _stuck(self, expected: list[str]) -> AgentError:
        loading = bool(self._inflight)
        if not loading:
            try:
                state = await self.page.evaluate("document.readyState")
                loading = state != "complete"
            except PlaywrightError:
                loading = True  # Mid-navigation: the document is being replaced.
        if loading:
            return StoreTimeout(
                f"the page did not finish loading within {self.timeout:g}s{_where(self.step)}"
            )
        return UnexpectedPage(
            f"the page at {safe_url(self.page.url)} matched none of the expected states "
            f"({', '.join(expected)}){_where(self.step)}"
        )

    def _stuck_error(self, what: str) -> AgentError:
        return UnexpectedPage(f"{what} on {safe_url(self.page.url)}{_where(self.step)}")


async def text_of(locator: Locator) -> str:
    """The visible text of the first match, stripped; empty when there is none."""
    try:
        if await locator.count() == 0:
            return ""
        return (await locator.first.inner_text()).strip()
    except PlaywrightError:
        return ""


def clickable(scope: Page | Locator, name: str | re.Pattern[str]) -> Locator:
    """A link or button with this accessible name (admin UIs render actions as either)."""
    exact = isinstance(name, str)
    return scope.get_by_role("button", name=name, exact=exact).or_(
        scope.get_by_role("link", name=name, exact=exact)
    )


def field_labelled(scope: Page | Locator, label: str) -> Locator:
    """The input labelled ``label`` (a section titled the same is labelled by it too)."""
    return scope.get_by_label(label, exact=True).and_(scope.locator("input, textarea"))


def is_masked(value: str) -> bool:
    """Whether a revealed-on-demand field still shows its placeholder."""
    return not value or "\u2022" in value or set(value) <= {"*", "\u2022", "."}


# -- running an agent's browser flow ----------------------------------------------------


@dataclass(frozen=True)
class StoreLogin:
    """The store login from the operation's credentials Secret (keys ``username``, ``password``)."""

    username: str
    password: str = field(repr=False)

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, str]) -> StoreLogin:
        username = (credentials.get("username") or "").strip()
        password = credentials.get("password") or ""
        if not username or not password:
            raise InvalidConfig(
                "the credentials Secret must hold the store login as keys 'username' and 'password'"
            )
        return cls(username, password)


def coerce_config(config: BaseModel | Mapping[str, object], model: type[M]) -> M:
    """``config`` as the agent's own model (the worker may hand over another model or a dict)."""
    if isinstance(config, model):
        return config
    raw = config.model_dump() if isinstance(config, BaseModel) else dict(config)
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in e.errors())
        raise InvalidConfig(f"invalid {model.__name__}: {fields}") from e


async def run_with_page(
    ctx: AgentContext,
    body: Callable[[PageFlow], Awaitable[T]],
    *,
    headless: bool,
    timeout_seconds: float,
    redact: Iterable[str] = (),
) -> T:
    """Run ``body`` on a fresh page from the job's pool; failures become typed errors."""
    pool = ctx.browser
    if pool is None:
        raise BrowserUnavailable(f"{ctx.service}/{ctx.operation} needs a browser; none was given")
    flow: PageFlow | None = None
    try:
        async with pool.context(
            headless=headless,
            label=ctx.label,
            timeout_seconds=timeout_seconds,
            redact=redact,
        ) as page:
            flow = PageFlow(page, ctx.progress, timeout_seconds=timeout_seconds)
            return await body(flow)
    except (PlaywrightError, TimeoutError) as e:
        raise classify_browser_error(e, step=flow.step if flow else "start") from e
