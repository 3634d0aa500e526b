"""Pure pieces of the browser module: error classification, redaction, settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from pydantic import BaseModel

from aop_agents.agents.base import (
    AgentError,
    InvalidConfig,
    StoreTimeout,
    StoreUnreachable,
    UnexpectedPage,
)
from aop_agents.browser import (
    BrowserSettings,
    StoreLogin,
    classify_browser_error,
    classify_http_status,
    coerce_config,
    has_display,
    is_masked,
    redact_text,
    safe_url,
)
from aop_contracts.configs import WooCommerceConfig


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Page.goto: net::ERR_CONNECTION_REFUSED at http://127.0.0.1:9/x?a=1", StoreUnreachable),
        ("Page.goto: net::ERR_NAME_NOT_RESOLVED at https://nope.invalid/", StoreUnreachable),
        ("Page.goto: net::ERR_CERT_AUTHORITY_INVALID at https://shop.example/", StoreUnreachable),
        ("Page.goto: net::ERR_CONNECTION_TIMED_OUT at https://shop.example/", StoreTimeout),
        ("Locator.click: strict mode violation: resolved to 2 elements", UnexpectedPage),
    ],
)
def test_playwright_errors_become_typed_errors(message: str, expected: type[AgentError]) -> None:
    error = classify_browser_error(PlaywrightError(message), step="sign_in")
    assert type(error) is expected
    assert not error.permanent
    assert "sign_in" in str(error)
    assert "a=1" not in str(error)  # no query strings in messages


def test_playwright_timeout_is_store_timeout() -> None:
    error = classify_browser_error(PlaywrightTimeoutError("Timeout 30000ms exceeded."), step="x")
    assert isinstance(error, StoreTimeout) and error.reason == "StoreTimeout"


def test_browser_crash_is_transient() -> None:
    error = classify_browser_error(
        PlaywrightError("Target page, context or browser has been closed")
    )
    assert error.reason == "BrowserCrashed" and not error.permanent


def test_call_logs_never_reach_the_message() -> None:
    # Playwright's call log quotes what was typed into a field.
    leaked = 'Locator.fill: Timeout\nCall log:\n  - fill("s3cret-password")\n'
    assert "s3cret-password" not in str(classify_browser_error(PlaywrightError(leaked)))
    assert "s3cret" not in str(classify_browser_error(PlaywrightTimeoutError(leaked)))


def test_agent_errors_pass_through() -> None:
    original = UnexpectedPage("x")
    assert classify_browser_error(original) is original


@pytest.mark.parametrize(
    ("status", "reason", "permanent"),
    [
        (503, "StoreUnavailable", False),
        (500, "StoreUnavailable", False),
        (502, "StoreUnavailable", False),
        (504, "StoreTimeout", False),
        (429, "StoreRateLimited", False),
        (403, "AccessDenied", True),
        (404, "UnexpectedPage", False),
    ],
)
def test_http_statuses(status: int, reason: str, permanent: bool) -> None:
    error = classify_http_status(status, url="https://s.example/p?token=abc", step="s")
    assert error is not None
    assert (error.reason, error.permanent) == (reason, permanent)
    assert "token=abc" not in str(error)


@pytest.mark.parametrize("status", [200, 201, 302, 304])
def test_http_success_is_no_error(status: int) -> None:
    assert classify_http_status(status) is None


def test_redaction_covers_credential_shapes_and_literals() -> None:
    text = (
        "token shpat_0123456789abcdef0123456789abcdef secret shpss_abcdefabcdef1234 "
        f"ck_{'a' * 40} cs_{'0' * 40} password hunter2"
    )
    redacted = redact_text(text, ["hunter2", ""])
    for value in ("shpat_", "shpss_", "ck_a", "cs_0", "hunter2"):
        assert value not in redacted
    assert redacted.count("[redacted]") == 5


def test_safe_url_drops_query_and_fragment() -> None:
    assert safe_url("https://a.example/p/q?code=1#f") == "https://a.example/p/q"
    assert safe_url("about:blank") == "about:blank"


def test_settings_from_env() -> None:
    settings = BrowserSettings.from_env(
        {
            "AOP_CHROMIUM_PATH": "/opt/chromium",
            "AOP_ARTIFACTS_DIR": "/var/aop",
            "AOP_ARTIFACTS_MAX_BYTES": "1024",
            "AOP_CHROMIUM_ARGS": "--lang=de --mute-audio",
        }
    )
    assert settings.executable_path == "/opt/chromium"
    assert settings.artifacts_dir == Path("/var/aop")
    assert settings.artifacts_max_bytes == 1024
    assert settings.extra_args == ("--lang=de", "--mute-audio")
    defaults = BrowserSettings.from_env({})
    assert defaults.executable_path == "/usr/lib/chromium/chromium"
    assert defaults.extra_args == ()


def test_display_detection() -> None:
    assert not has_display({})
    assert has_display({"DISPLAY": ":0"})
    assert has_display({"WAYLAND_DISPLAY": "wayland-0"})


def test_masked_values() -> None:
    assert is_masked("")
    assert is_masked("\u2022" * 8)
    assert is_masked("****")
    assert not is_masked("shpss_abc")


def test_store_login_requires_both_keys_and_hides_the_password() -> None:
    login = StoreLogin.from_credentials({"username": " admin ", "password": "pw"})
    assert login.username == "admin" and "pw" not in repr(login)
    with pytest.raises(InvalidConfig):
        StoreLogin.from_credentials({"username": "admin"})


def test_coerce_config() -> None:
    config = WooCommerceConfig(store_url="https://shop.example")
    assert coerce_config(config, WooCommerceConfig) is config
    assert coerce_config({"storeUrl": "https://shop.example"}, WooCommerceConfig) == config

    class Other(BaseModel):
        store_url: str = "not a url"

    with pytest.raises(InvalidConfig) as caught:
        coerce_config(Other(), WooCommerceConfig)
    assert caught.value.permanent
