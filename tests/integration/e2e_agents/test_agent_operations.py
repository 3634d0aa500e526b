"""The Shopify and WooCommerce agents through the whole product.

``kubectl apply`` of an OperationQueue, an OperationConsent, a login Secret and an
AutonomousOperation; the real ``aop-operator`` enqueues it in Redis, a real ``aop-worker``
drives real Chromium through the fake stores of ``tests/sites``, and the outcome shows up
in the operation's status and in the result Secret it owns. Assertions compare against
what the store itself issued; deadlines are generous, nothing is timed.
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from agent_manifests import login_secret, shopify_operation, woo_operation
from live_sites import LiveSite
from tests.sites.shopify import ShopifySite
from tests.sites.woocommerce import WooCommerceSite

pytestmark = pytest.mark.integration

#: Browser jobs take seconds each; retries add their backoff. Generous, never asserted.
DONE_WITHIN = 180
TERMINAL = ("Succeeded", "Failed", "Cancelled", "Blocked")

Stack = Callable[..., tuple[Any, Any]]


# -- helpers --------------------------------------------------------------------------------


def finished(kube: Any, name: str) -> dict[str, Any]:
    """The operation's status once it reached a terminal phase."""
    return dict(kube.wait_phase(name, *TERMINAL, timeout=DONE_WITHIN))


def succeeded(kube: Any, name: str) -> dict[str, Any]:
    """The status of an operation that succeeded and names its result Secret."""
    st = finished(kube, name)
    assert st["phase"] == "Succeeded", st
    result = st.get("result") or {}
    assert result.get("secretName") and result.get("summary"), f"incomplete result: {st}"
    return st


def when(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def secret_data(kube: Any, name: str) -> dict[str, str]:
    obj = kube.get("secret", name)
    assert obj is not None, f"Secret {name} not found"
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


def owner_of(kube: Any, secret: str) -> list[dict[str, Any]]:
    obj = kube.get("secret", secret)
    assert obj is not None, f"Secret {secret} not found"
    return list(obj["metadata"].get("ownerReferences") or [])


def assert_owned_by_operation(kube: Any, secret: str, operation: str) -> None:
    op = kube.get("aop", operation)
    assert op is not None
    [ref] = owner_of(kube, secret)
    assert ref["apiVersion"] == "autonomous.dev/v1alpha1"
    assert ref["kind"] == "AutonomousOperation"
    assert ref["name"] == operation
    assert ref["uid"] == op["metadata"]["uid"]
    assert ref["controller"] is True


def assert_no_secret_in(text: str, secrets: Iterable[str], where: str) -> None:
    leaked = sorted({s for s in secrets if s and s in text})
    assert not leaked, f"{len(leaked)} secret value(s) found in {where}"


def posts(live: LiveSite[Any], path: str) -> int:
    """How many times the store received ``POST path`` (one per login submitted)."""
    return sum(1 for r in live.requests() if r.split("?")[0] == f"POST {path}")


def shopify_login(kube: Any, site: ShopifySite, name: str = "shop-login", **over: str) -> str:
    kube.apply(
        login_secret(name, over.get("username", site.email), over.get("password", site.password))
    )
    return name


def woo_login(kube: Any, site: WooCommerceSite, name: str = "woo-login", **over: str) -> str:
    kube.apply(
        login_secret(name, over.get("username", site.username), over.get("password", site.password))
    )
    return name


def dev_app_issued(site: ShopifySite, name: str) -> dict[str, Any]:
    """What the Dev Dashboard issued for app ``name`` (run on the store's loop)."""
    [app] = [a for a in site.apps.values() if a.name == name]
    return {
        "client_id": app.client_id,
        "active_secrets": [s.value for s in app.active_secrets],
        "revoked_secrets": [s.value for s in app.secrets if s.revoked],
        "tokens": [t.token for t in site.tokens if t.client_id == app.client_id and t.valid()],
        "installs": dict(app.installs),
    }


def woo_keys(site: WooCommerceSite) -> dict[str, dict[str, str]]:
    """Every key the store issued, by consumer key (run on the store's loop)."""
    return {
        k.consumer_key: {
            "consumer_secret": k.consumer_secret,
            "key_id": str(k.key_id),
            "revoked": "yes" if k.revoked else "",
        }
        for k in site.keys.values()
    }


# -- 1-3: credentials created, exactly as the store issued them ---------------------------------


def test_shopify_dev_dashboard_credentials_land_in_an_owned_secret(
    kube: Any, stack: Stack, shopify: LiveSite[ShopifySite]
) -> None:
    stack()
    login = shopify_login(kube, shopify.site)
    kube.apply(
        shopify_operation(
            "shop",
            shopify.site,
            login=login,
            appName="erp-sync",
            scopes=["read_products", "write_orders"],
        )
    )
    st = succeeded(kube, "shop")
    assert st["result"]["secretName"] == "shop-credentials", st
    assert st["progress"]["percent"] == 100

    issued = shopify.call(lambda s: dev_app_issued(s, "erp-sync"))
    data = secret_data(kube, st["result"]["secretName"])
    assert data["client_id"] == issued["client_id"]
    assert issued["active_secrets"] == [data["client_secret"]]
    assert data["client_secret"].startswith("shpss_")
    assert data["access_token"] in issued["tokens"]
    assert data["access_token"].startswith("shpat_")
    assert data["scopes"] == "read_products,write_orders"
    assert data["flow"] == "dev_dashboard"
    assert issued["installs"] == {shopify.site.store_domain: ["read_products", "write_orders"]}
    assert_owned_by_operation(kube, "shop-credentials", "shop")
    summary = st["result"]["summary"]
    assert "erp-sync" in summary
    assert_no_secret_in(
        summary,
        [data["client_id"], data["client_secret"], data["access_token"], shopify.site.password],
        "status.result.summary",
    )


def test_shopify_legacy_admin_flow_stores_the_revealed_token(
    kube: Any, stack: Stack, make_shopify_site: Callable[..., LiveSite[ShopifySite]]
) -> None:
    shop = make_shopify_site(allow_legacy_custom_apps=True)
    stack()
    login = shopify_login(kube, shop.site)
    kube.apply(
        shopify_operation(
            "legacy",
            shop.site,
            login=login,
            flow="legacy_admin",
            appName="legacy-sync",
            scopes=["read_orders"],
        )
    )
    st = succeeded(kube, "legacy")

    token = shop.call(lambda s: [a.access_token for a in s.legacy_apps.values()])
    data = secret_data(kube, st["result"]["secretName"])
    assert token == [data["access_token"]]
    assert data["access_token"].startswith("shpat_")
    assert data["flow"] == "legacy_admin"
    assert data["scopes"] == "read_orders"
    assert_owned_by_operation(kube, st["result"]["secretName"], "legacy")
    assert_no_secret_in(st["result"]["summary"], [data["access_token"]], "status.result.summary")


def test_woocommerce_key_lands_in_an_owned_secret(
    kube: Any, stack: Stack, woo: LiveSite[WooCommerceSite]
) -> None:
    stack()
    login = woo_login(kube, woo.site)
    kube.apply(
        woo_operation("woo", woo.site, login=login, description="erp sync", permissions="read")
    )
    st = succeeded(kube, "woo")
    assert st["result"]["secretName"] == "woo-credentials", st

    keys = woo.call(woo_keys)
    data = secret_data(kube, "woo-credentials")
    assert list(keys) == [data["consumer_key"]]
    issued = keys[data["consumer_key"]]
    assert data["consumer_secret"] == issued["consumer_secret"]
    assert data["key_id"] == issued["key_id"]
    assert data["permissions"] == "read"
    assert_owned_by_operation(kube, "woo-credentials", "woo")
    assert_no_secret_in(
        st["result"]["summary"],
        [data["consumer_key"], data["consumer_secret"], woo.site.password],
        "status.result.summary",
    )


# -- 4: the result Secret goes with its operation ---------------------------------------------


def test_deleting_the_operation_garbage_collects_its_secret(
    kube: Any, stack: Stack, woo: LiveSite[WooCommerceSite]
) -> None:
    stack()
    kube.apply(woo_operation("short-lived", woo.site, login=woo_login(kube, woo.site)))
    succeeded(kube, "short-lived")
    assert kube.get("secret", "short-lived-credentials") is not None

    kube.cluster.kubectl("delete", "aop", "short-lived", "-n", kube.ns, "--timeout=60s")
    assert kube.get("aop", "short-lived") is None
    kube.wait_for(
        "the result Secret to be garbage-collected",
        lambda: kube.get("secret", "short-lived-credentials") is None,
        timeout=90,
        interval=0.5,
    )
    # The login Secret is the user's, not the operation's: it stays.
    assert kube.get("secret", "woo-login") is not None


# -- 5: rotation --------------------------------------------------------------------------------
#
# The worker hands an agent the current content of the operation's result Secret as the
# previous credentials: ``spec.resultSecretRef`` when set, else ``<operation name>-credentials``.
# ``operation`` is immutable, so a rotation is a new AutonomousOperation. Two user flows:
#
# - rotate another operation's Secret: a ``credential_rotation`` operation whose
#   ``resultSecretRef`` names the earlier result Secret rotates it in place; both operations
#   then own it (the newer one as controller), so it lives until the last one is deleted.
# - rotate under the same name: ``kubectl delete aop NAME --cascade=orphan`` keeps
#   NAME-credentials (unowned), then a ``credential_rotation`` operation named NAME reads it,
#   rotates, and takes the Secret over.
#
# A Secret the operator did not create (no managed-by label) is never written; without
# earlier credentials a rotation fails ``InvalidConfig`` at once.


def test_shopify_rotation_in_place_revokes_the_old_secret(
    kube: Any, stack: Stack, shopify: LiveSite[ShopifySite]
) -> None:
    stack()
    login = shopify_login(kube, shopify.site)
    kube.apply(shopify_operation("shop", shopify.site, login=login, appName="erp-sync"))
    succeeded(kube, "shop")
    before = secret_data(kube, "shop-credentials")

    kube.cluster.kubectl(
        "delete", "aop", "shop", "-n", kube.ns, "--cascade=orphan", "--timeout=60s"
    )
    kube.wait_for("the Secret to be orphaned", lambda: not owner_of(kube, "shop-credentials"))
    kube.apply(
        shopify_operation(
            "shop", shopify.site, login=login, appName="erp-sync", operation="credential_rotation"
        )
    )
    st = succeeded(kube, "shop")
    assert st["result"]["secretName"] == "shop-credentials", st

    after = secret_data(kube, "shop-credentials")
    issued = shopify.call(lambda s: dev_app_issued(s, "erp-sync"))
    assert after["client_id"] == before["client_id"] == issued["client_id"]
    assert after["client_secret"] != before["client_secret"]
    assert issued["revoked_secrets"] == [before["client_secret"]]
    assert issued["active_secrets"] == [after["client_secret"]]
    assert after["access_token"] in issued["tokens"]
    assert after["access_token"] != before["access_token"]
    assert_owned_by_operation(kube, "shop-credentials", "shop")
    assert_no_secret_in(
        st["result"]["summary"],
        [after["client_secret"], before["client_secret"], after["access_token"]],
        "status.result.summary",
    )


def test_woocommerce_rotation_of_an_earlier_operations_secret_revokes_the_old_key(
    kube: Any, stack: Stack, woo: LiveSite[WooCommerceSite]
) -> None:
    stack()
    login = woo_login(kube, woo.site)
    kube.apply(woo_operation("woo", woo.site, login=login))
    succeeded(kube, "woo")
    old = secret_data(kube, "woo-credentials")

    rotate = woo_operation("woo-rotate", woo.site, login=login, operation="credential_rotation")
    rotate["spec"]["resultSecretRef"] = {"name": "woo-credentials"}
    kube.apply(rotate)
    st = succeeded(kube, "woo-rotate")
    assert st["result"]["secretName"] == "woo-credentials", st
    if st["attempts"] == 1:
        # A retried attempt finds the key already revoked by the one before and says nothing.
        assert f"revoked key {old['key_id']}" in st["result"]["summary"], st

    new = secret_data(kube, "woo-credentials")
    keys = woo.call(woo_keys)
    states = {v["key_id"]: v["revoked"] or "active" for v in keys.values()}
    assert keys[old["consumer_key"]]["revoked"] == "yes", (states, st)
    assert new["consumer_key"] != old["consumer_key"]
    assert keys[new["consumer_key"]] == {
        "consumer_secret": new["consumer_secret"],
        "key_id": new["key_id"],
        "revoked": "",
    }
    assert [k for k, v in keys.items() if not v["revoked"]] == [new["consumer_key"]], (states, st)

    # Both operations own the Secret; the rotation is its controller.
    owners = {(o["name"], o["controller"]) for o in owner_of(kube, "woo-credentials")}
    assert owners == {("woo-rotate", True), ("woo", False)}, owners
    # Deleting the first operation leaves the rotated credentials to the second...
    kube.cluster.kubectl("delete", "aop", "woo", "-n", kube.ns, "--timeout=60s")
    kube.wait_for(
        "the first operation to drop out of the owners",
        lambda: [o["name"] for o in owner_of(kube, "woo-credentials")] == ["woo-rotate"],
        timeout=60,
    )
    assert secret_data(kube, "woo-credentials") == new
    # ...and the Secret goes with the last of them.
    kube.cluster.kubectl("delete", "aop", "woo-rotate", "-n", kube.ns, "--timeout=60s")
    kube.wait_for(
        "the Secret to be garbage-collected",
        lambda: kube.get("secret", "woo-credentials") is None,
        timeout=60,
    )


def test_a_secret_the_operator_did_not_create_is_never_overwritten(
    kube: Any, stack: Stack, woo: LiveSite[WooCommerceSite]
) -> None:
    stack()
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db-password"},
            "type": "Opaque",
            "stringData": {"password": "keep-me"},
        }
    )
    op = woo_operation("woo-clobber", woo.site, login=woo_login(kube, woo.site))
    op["spec"]["resultSecretRef"] = {"name": "db-password"}
    kube.apply(op)
    st = finished(kube, "woo-clobber")
    assert (st["phase"], st["reason"], st["attempts"]) == ("Failed", "ResultSecretConflict", 1), st
    assert "db-password" in st["message"] and "managed-by" in st["message"], st
    assert secret_data(kube, "db-password") == {"password": "keep-me"}
    assert owner_of(kube, "db-password") == []
    assert woo.call(woo_keys) == {}, "nothing was created at the store"


def test_rotation_without_earlier_credentials_fails_at_once(
    kube: Any, stack: Stack, woo: LiveSite[WooCommerceSite]
) -> None:
    stack()
    kube.apply(
        woo_operation(
            "lonely-rotate",
            woo.site,
            login=woo_login(kube, woo.site),
            operation="credential_rotation",
        )
    )
    st = finished(kube, "lonely-rotate")
    assert st["phase"] == "Failed", st
    assert st["reason"] == "InvalidConfig"
    assert st["attempts"] == 1
    assert woo.call(woo_keys) == {}


# -- 6-7: failures are classified ---------------------------------------------------------------


@pytest.mark.parametrize("service", ["shopify", "woocommerce"])
def test_wrong_password_fails_after_one_attempt(
    kube: Any,
    stack: Stack,
    service: str,
    tmp_path: Path,
    shopify: LiveSite[ShopifySite],
    woo: LiveSite[WooCommerceSite],
) -> None:
    stack()
    wrong = "hunter2-not-the-password"
    if service == "shopify":
        login = shopify_login(kube, shopify.site, password=wrong)
        kube.apply(shopify_operation("bad-login", shopify.site, login=login, attempts=3))
        live: LiveSite[Any] = shopify
        login_path = "/accounts/login"
    else:
        login = woo_login(kube, woo.site, password=wrong)
        kube.apply(woo_operation("bad-login", woo.site, login=login, attempts=3))
        live = woo
        login_path = "/wp-login.php"
    st = finished(kube, "bad-login")
    assert st["phase"] == "Failed", st
    assert st["reason"] == "InvalidCredentials"
    assert st["attempts"] == 1
    assert posts(live, login_path) == 1
    assert wrong not in json.dumps(st)
    assert kube.get("secret", "bad-login-credentials") is None
    # The failure left a screenshot and the HTML for a post-mortem, with no password in them.
    artifacts = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in artifacts), artifacts
    for path in artifacts:
        assert wrong.encode() not in path.read_bytes(), path.name


@pytest.mark.parametrize("service", ["shopify", "woocommerce"])
def test_store_answering_503_twice_succeeds_on_the_third_attempt(
    kube: Any,
    stack: Stack,
    service: str,
    shopify: LiveSite[ShopifySite],
    woo: LiveSite[WooCommerceSite],
) -> None:
    stack()
    if service == "shopify":
        shopify.call(lambda s: setattr(s.failures, "unavailable_first", 2))
        login = shopify_login(kube, shopify.site)
        kube.apply(shopify_operation("flaky", shopify.site, login=login, attempts=3, backoff=1))
    else:
        woo.call(lambda s: setattr(s.failures, "unavailable_first", 2))
        login = woo_login(kube, woo.site)
        kube.apply(woo_operation("flaky", woo.site, login=login, attempts=3, backoff=1))
    st = succeeded(kube, "flaky")
    assert st["attempts"] == 3
    data = secret_data(kube, "flaky-credentials")
    if service == "shopify":
        issued = shopify.call(lambda s: dev_app_issued(s, "autonomous-operator"))
        assert issued["active_secrets"] == [data["client_secret"]]
    else:
        keys = woo.call(woo_keys)
        assert keys[data["consumer_key"]]["consumer_secret"] == data["consumer_secret"]


# -- 8: jobs in one worker do not share a browser session -------------------------------------


def test_concurrent_jobs_in_one_worker_share_no_cookies(
    kube: Any, stack: Stack, shopify: LiveSite[ShopifySite]
) -> None:
    """Shopify's accounts site signs a browser that already has its session cookie straight
    back in (single sign-on), and the Dev Dashboard lets a browser with a session cookie
    skip the login altogether. So if the second job's browser context saw any cookie of
    the first, it would never submit a password. The second job starts only once the first
    is signed in; the first is kept busy (slow Settings page) so they overlap."""
    shopify.call(lambda s: setattr(s.failures, "slow_seconds", 5.0))
    _, worker = stack(concurrency=2)
    login = shopify_login(kube, shopify.site)
    kube.apply(shopify_operation("first", shopify.site, login=login, appName="app-one"))

    def first_signed_in() -> bool:
        progress = kube.status("first").get("progress") or {}
        return progress.get("step") not in (None, "sign_in")

    kube.wait_for("the first job to be signed in", first_signed_in, timeout=DONE_WITHIN)
    assert posts(shopify, "/accounts/login") == 1
    kube.apply(shopify_operation("second", shopify.site, login=login, appName="app-two"))
    first, second = succeeded(kube, "first"), succeeded(kube, "second")

    # They ran at the same time, in the one worker.
    assert when(second["startedAt"]) < when(first["finishedAt"]), (first, second)
    assert worker.log().count("attempt 1 starts") == 2
    # Each signed in on its own: two password submissions, two signed-in sessions.
    assert posts(shopify, "/accounts/login") == 2
    signed_in = shopify.call(
        lambda s: [sid for sid, data in s.accounts_sessions.data.items() if data.get("user")]
    )
    assert len(signed_in) == 2
    dev_sessions = shopify.call(lambda s: len(s.dev_sessions.data))
    assert dev_sessions == 2
    one = secret_data(kube, "first-credentials")
    two = secret_data(kube, "second-credentials")
    assert one["client_id"] == shopify.call(lambda s: dev_app_issued(s, "app-one"))["client_id"]
    assert two["client_id"] == shopify.call(lambda s: dev_app_issued(s, "app-two"))["client_id"]


# -- 9: no secret anywhere but in the result Secrets --------------------------------------------


def redis_dump(redis_url: str) -> tuple[list[str], str]:
    """Every key in Redis and a text dump of every value, whatever its type."""
    port = redis_url.rsplit(":", 1)[1].split("/")[0]

    def cli(*args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-p", port, "--raw", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout

    keys = [k for k in cli("--scan").splitlines() if k]
    read = {
        "string": ("GET",),
        "hash": ("HGETALL",),
        "list": ("LRANGE", "0", "-1"),
        "set": ("SMEMBERS",),
        "zset": ("ZRANGE", "0", "-1", "WITHSCORES"),
        "stream": ("XRANGE", "-", "+"),
    }
    dump = []
    for key in keys:
        kind = cli("TYPE", key).strip()
        if kind == "none":  # expired or removed since the scan
            continue
        assert kind in read, f"unexpected Redis type {kind} of {key}"
        command, *rest = read[kind]
        dump.append(f"{key} ({kind}):\n{cli(command, key, *rest)}")
    return keys, "\n".join(dump)


def test_no_secret_in_status_events_logs_or_redis(
    kube: Any,
    stack: Stack,
    procs: Any,
    redis_url: str,
    make_shopify_site: Callable[..., LiveSite[ShopifySite]],
    make_woo_site: Callable[..., LiveSite[WooCommerceSite]],
) -> None:
    # Distinct logins, so each one is looked for on its own.
    shopify = make_shopify_site(password=f"shop-{uuid.uuid4().hex}")
    woo = make_woo_site(password=f"woo-{uuid.uuid4().hex}")
    stack()
    kube.apply(
        shopify_operation("scan-shop", shopify.site, login=shopify_login(kube, shopify.site)),
        woo_operation("scan-woo", woo.site, login=woo_login(kube, woo.site)),
    )
    succeeded(kube, "scan-shop")
    succeeded(kube, "scan-woo")

    shop_data = secret_data(kube, "scan-shop-credentials")
    woo_data = secret_data(kube, "scan-woo-credentials")
    issued_shop = shopify.call(lambda s: dev_app_issued(s, "autonomous-operator"))
    issued_keys = woo.call(woo_keys)
    secrets = {
        shop_data["client_id"],
        shop_data["client_secret"],
        shop_data["access_token"],
        woo_data["consumer_key"],
        woo_data["consumer_secret"],
        issued_shop["client_id"],
        *issued_shop["active_secrets"],
        *issued_shop["tokens"],
        *issued_keys,
        *(k["consumer_secret"] for k in issued_keys.values()),
        # The store logins are secrets too.
        shopify.site.password,
        woo.site.password,
    }
    assert len(secrets) >= 7

    statuses = kube.cluster.kubectl("get", "aop", "-n", kube.ns, "-o", "json").stdout
    assert "scan-shop-credentials" in statuses  # the scan looks at the right thing
    assert_no_secret_in(statuses, secrets, "the operations (kubectl get aop -o json)")
    queues = kube.cluster.kubectl("get", "aopq", "-n", kube.ns, "-o", "json").stdout
    assert_no_secret_in(queues, secrets, "the OperationQueues")

    events = kube.cluster.kubectl("get", "events", "-n", kube.ns, "-o", "json").stdout
    assert "Succeeded" in events
    assert_no_secret_in(events, secrets, "the namespace's Events")

    for proc in procs.all:
        log = proc.log()
        assert log, f"{proc.name} wrote no log"
        assert_no_secret_in(log, secrets, f"the log of {proc.name}")

    keys, dump = redis_dump(redis_url)
    shop_uid = kube.get("aop", "scan-shop")["metadata"]["uid"]
    assert f"bull:default:{shop_uid}" in keys, keys
    assert "scan-woo" in dump
    assert_no_secret_in(dump, secrets, f"Redis ({len(keys)} keys)")
