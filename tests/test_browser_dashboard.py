"""The dashboard in a real browser: an instructor logs in through the hub's form, opens
the cohort page and the gallery in headless Chromium (HubOAuth to the service), and
follows a gallery link to a student's live app.

``IMAD_SCREENSHOTS=1`` writes docs/screenshots/dashboard-cohort.png and
dashboard-gallery.png (the README's pictures). Skips cleanly without /usr/bin/chromium;
never downloads a browser.
"""

import os
from pathlib import Path

import pytest

from .dashboard_room import head_commit, people, start_room

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium"),
]


@pytest.fixture
def jp_asyncio_loop():
    """pytest-jupyter's autouse loop would be closed under Playwright's running one;
    no Jupyter server runs in this process, so there is nothing for it to clean up."""
    yield None


@pytest.fixture
def jp_server_cleanup():
    yield


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    room = start_room(tmp_path_factory.mktemp("browser-dash"))
    yield room
    room.stop()


@pytest.fixture(scope="module")
def published(room):
    who = people(room, ["alice", "bob"])
    for name in ("alice", "bob"):
        commit = head_commit(room, name)
        r = who[name].service("POST", f"api/apps/{name}", json={"commit": commit, "wait": 45})
        assert r.status_code == 200 and r.json()["status"] == "live", r.text
    return who


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def shot(page, name, tmp_path):
    target = SHOTS if os.environ.get("IMAD_SCREENSHOTS") else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / name), full_page=True)


def test_cohort_page_gallery_and_live_app(room, published, browser, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(room.url("hub/login"))
    page.fill("#username_input", "instructor")
    page.fill("#password_input", room.password)
    page.click("#login_submit")
    page.wait_for_url("**/services/imad/")  # staff land on the dashboard
    assert page.locator("text=Cohorts").first.is_visible()

    response = page.goto(room.url("services/imad/cohorts/demo"))
    assert response.status != 403, (
        "the dashboard refused the instructor's browser session: the service's OAuth"
        " tokens lack the classroom's scopes (hubconfig.update_service must set"
        " oauth_client_allowed_scopes)"
    )
    row = page.locator('tr[data-user="alice"]')
    row.wait_for()
    assert row.get_attribute("data-app") == "live"
    assert "alice.apps.localhost" in row.inner_text()
    assert page.locator("#students tbody tr").count() == 2
    # search filters the table
    page.fill("#q", "bob")
    page.press("#q", "Enter")
    page.wait_for_url("**q=bob**")
    assert page.locator("#students tbody tr").count() == 1
    page.goto(room.url("services/imad/cohorts/demo"))
    page.locator('tr[data-user="alice"]').wait_for()
    shot(page, "dashboard-cohort.png", tmp_path)

    page.click("text=Gallery of live apps")
    page.wait_for_url("**/cohorts/demo/gallery")
    cards = page.locator("figure.imad-card")
    assert cards.count() == 2
    page.wait_for_timeout(1500)  # let the lazy previews paint for the picture
    shot(page, "dashboard-gallery.png", tmp_path)

    with context.expect_page() as new:
        page.locator('figure[data-owner="alice"] a.imad-app-link').click()
    app = new.value
    app.wait_for_load_state()
    assert app.url == f"http://alice.apps.localhost:{room.apps_port}/"
    assert app.locator("body").inner_text().strip()
    context.close()
