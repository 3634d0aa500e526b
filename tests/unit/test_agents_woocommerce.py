"""Pure pieces of the WooCommerce agent: login errors, key ids, summaries."""

from __future__ import annotations

import pytest

from aop_agents.agents.base import InvalidCredentials, UnexpectedPage
from aop_agents.agents.woocommerce import (
    classify_login_error,
    key_id_from_href,
    keys_url,
    summarize,
)


@pytest.mark.parametrize(
    "text",
    [
        "Error: The password you entered for the username admin is incorrect. Lost your password?",
        "Error: The username bob is not registered on this site.",
        "Error: The username field is empty.",
    ],
)
def test_credential_errors(text: str) -> None:
    error = classify_login_error(text)
    assert isinstance(error, InvalidCredentials) and error.permanent


def test_throttled_login_is_transient() -> None:
    error = classify_login_error(
        "ERROR: Too many failed login attempts. Please try again in 20 minutes."
    )
    assert error.reason == "LoginThrottled" and not error.permanent


def test_cookie_problem_is_not_a_credential_problem() -> None:
    assert isinstance(
        classify_login_error("Error: Cookies are blocked or not supported by your browser."),
        UnexpectedPage,
    )


def test_key_id_from_revoke_link() -> None:
    href = (
        "/wp-admin/admin.php?page=wc-settings&tab=advanced&section=keys&revoke-key=12&_wpnonce=ab"
    )
    assert key_id_from_href(href) == "12"
    assert key_id_from_href("/wp-admin/admin.php?page=wc-settings&edit-key=12") is None
    assert key_id_from_href("admin.php?revoke-key=x") is None


def test_summary_shows_only_the_last_seven_characters() -> None:
    key = "ck_" + "0" * 33 + "abcdefg"
    assert summarize(key, "read_write") == "key …abcdefg, permissions read_write"


def test_keys_url_keeps_a_subdirectory_install() -> None:
    assert keys_url("https://shop.example/") == (
        "https://shop.example/wp-admin/admin.php?page=wc-settings&tab=advanced&section=keys"
    )
    assert keys_url("https://example.com/shop").startswith("https://example.com/shop/wp-admin/")
