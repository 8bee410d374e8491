"""The student's view in a real browser (issue 3): the IMAD panel, end to end.

Drives Debian's Chromium (never a downloaded browser) with Playwright against the
session's real local classroom: log in through the hub's login form as alice, wait for
the IMAD panel, type a unique marker into ``public/index.html`` in JupyterLab's own
editor, save, see the change listed, press Publish, wait for ``live``, open the app from
the panel's link and see the marker; then break ``server.js`` with a syntax error,
publish, and see ``crashed`` with the error in the panel's logs; then undo the break,
publish again (live), and unpublish through the confirmation dialog, leaving alice's
working copy clean.

Screenshots of the panel (idle, publishing, live, crashed) go to
``tests/artifacts/screenshots/``; with ``IMAD_UPDATE_SCREENSHOTS=1`` also to
``docs/screenshots/`` (the ones the README shows).
"""

import os
import shutil
import uuid
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts" / "screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(420),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]

PANEL = "#imad-classroom-panel"
BADGE = f"{PANEL} .imad-StatusBadge"


@pytest.fixture
def page():
    """A Chromium page (function-scoped: Playwright's event loop must be gone before
    pytest-jupyter's autouse loop fixture closes its own)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 960})
        context.set_default_timeout(30_000)
        page = context.new_page()
        try:
            yield page
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "last-page.png"))
            context.close()
            browser.close()


def screenshot(page, name: str, whole_window: bool = False):
    """Save a screenshot of the panel, or of the whole JupyterLab window (artifacts;
    docs too when asked)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / (f"workspace-{name}.png" if whole_window else f"panel-{name}.png")
    if whole_window:
        page.screenshot(path=str(path), animations="disabled")
    else:
        page.locator(f"{PANEL} .imad-Panel-content").screenshot(path=str(path), animations="disabled")
    if os.environ.get("IMAD_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)


def log_in(page, classroom, user: str):
    page.goto(classroom.hub_url + "hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", classroom.password)
    page.click("#login_submit")


def open_in_editor(page, classroom, user: str, path: str):
    """Open ``~/<path>`` in JupyterLab's file editor (its tree URL, as a link would)."""
    page.goto(classroom.hub_url + f"user/{user}/lab/tree/{path}")
    page.wait_for_selector(PANEL, state="visible", timeout=60_000)
    name = path.rsplit("/", 1)[-1]
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current", has_text=name)
    tab.wait_for(state="visible")
    editor = page.locator(".jp-FileEditor:visible .cm-content")
    editor.wait_for(state="visible")
    return editor


def save(page):
    page.keyboard.press("Control+s")
    # The tab loses its "dirty" mark once the contents API stored the file.
    page.locator(".lm-TabBar-tab.lm-mod-current.jp-mod-dirty").wait_for(state="detached")


def wait_status(page, status: str, timeout: float = 60_000):
    page.locator(f'{BADGE}[data-status="{status}"]').wait_for(state="visible", timeout=timeout)


def publish(page):
    button = page.locator(f"{PANEL} .imad-PublishButton")
    button.wait_for(state="visible")
    assert button.is_enabled(), button.get_attribute("title")
    button.click()


def test_edit_publish_see_it_live_then_crash(classroom, page):
    marker = f"imad-browser-{uuid.uuid4().hex[:10]}"
    user = "alice"

    # Log in through the hub's form; the workspace opens JupyterLab with the panel.
    log_in(page, classroom, user)
    try:
        page.wait_for_url(f"**/user/{user}/lab**", timeout=120_000)
    except Exception as e:
        raise AssertionError(
            f"after login a student should land in their workspace's JupyterLab; "
            f"landed on {page.url}"
        ) from e
    panel = page.locator(PANEL)
    panel.wait_for(state="visible", timeout=60_000)
    panel.locator(".imad-Repository").wait_for(state="visible", timeout=60_000)
    page.locator(BADGE).wait_for(state="visible")
    assert panel.locator(".imad-Branch").inner_text().startswith("main")
    # The app's main file is open in JupyterLab's own editor, the browser is at ~/app.
    page.locator(".lm-TabBar-tab", has_text="server.js").first.wait_for(state="visible")
    page.locator(".jp-FileEditor .cm-content").first.wait_for(state="visible")
    assert "app" in page.locator(".jp-BreadCrumbs").inner_text()
    # Commit is disabled with a reason while nothing changed.
    commit = panel.locator(".imad-CommitButton")
    assert commit.is_disabled()
    assert "Nothing to commit" in commit.get_attribute("title")
    screenshot(page, "idle")
    # Controls have accessible names and are reachable by keyboard.
    message = panel.get_by_role("textbox", name="Commit message")
    message.focus()
    page.keyboard.press("Tab")  # Commit is disabled (nothing to commit): skipped
    assert page.evaluate("document.activeElement.textContent") == "Publish"
    assert panel.get_by_role("log", name="Logs").count() == 1
    assert panel.get_by_role("button", name="Refresh the IMAD panel").count() == 1

    # Type a marker into public/index.html in the editor and save.
    editor = open_in_editor(page, classroom, user, "app/public/index.html")
    page.locator(".jp-FileEditor:visible .cm-line", has_text="Hello from my IMAD app").click()
    page.keyboard.press("End")
    page.keyboard.insert_text(f'\n      <p id="marker">{marker}</p>')
    assert marker in editor.inner_text()
    save(page)

    # The changes list refreshes on save; clicking the file opens it.
    change = panel.locator(".imad-Change", has_text="public/index.html")
    change.wait_for(state="visible", timeout=15_000)
    assert change.get_attribute("data-status") == "modified"
    message = panel.locator("#imad-commit-message")
    # A default message the student can edit ("Update public/index.html"; more files
    # when JupyterLab's .ipynb_checkpoints are listed too).
    assert message.input_value().startswith("Update ")
    message.fill(f"Show {marker}")
    assert commit.is_enabled()

    # Publish: commits the pending change first, shows progress, then live.
    publish(page)
    try:
        panel.locator(".imad-Progress").wait_for(state="visible", timeout=3_000)
    except Exception:  # publish may finish before the first frame; screenshot anyway
        pass
    screenshot(page, "publishing")
    wait_status(page, "live")
    panel.locator(".imad-NoChanges").wait_for(state="visible")
    assert marker in panel.locator(".imad-Head-message").inner_text()
    published = panel.locator(".imad-PublishedCommit").inner_text()
    assert published == panel.locator(".imad-Head .imad-Sha").inner_text()[:7]
    screenshot(page, "live")
    screenshot(page, "live", whole_window=True)

    # The live URL is a link that opens a new tab showing the marker.
    link = panel.locator(".imad-AppUrl a")
    expected_url = f"http://{user}.apps.localhost:{classroom.apps_port}/"
    assert link.get_attribute("href") == expected_url
    assert link.get_attribute("target") == "_blank"
    with page.context.expect_page() as new_tab:
        link.click()
    app_page = new_tab.value
    app_page.wait_for_load_state()
    assert app_page.url == expected_url
    assert app_page.locator("#marker").inner_text() == marker
    app_page.close()

    # The command palette has the IMAD commands; "Open Live App" opens the same tab.
    page.keyboard.press("Control+Shift+c")
    palette = page.locator(".lm-CommandPalette-input")
    palette.fill("Open Live App")
    item = page.locator(".lm-CommandPalette-item", has_text="Open Live App")
    with page.context.expect_page() as new_tab:
        item.first.click()
    assert new_tab.value.url == expected_url
    new_tab.value.close()
    page.keyboard.press("Control+Shift+c")
    palette.fill("IMAD")
    for label in ("Commit and Push Changes", "Publish App", "Open Live App"):
        page.locator(".lm-CommandPalette-item", has_text=label).first.wait_for(state="attached")
    page.keyboard.press("Escape")

    # Break the app: a syntax error in server.js; publish; see crashed with the error.
    editor = open_in_editor(page, classroom, user, "app/server.js")
    page.locator(".jp-FileEditor:visible .cm-line", has_text="const http = require").click()
    page.keyboard.press("Home")
    page.keyboard.insert_text("this is not javascript(\n")
    save(page)
    panel.locator(".imad-Change", has_text="server.js").wait_for(state="visible", timeout=15_000)
    publish(page)
    wait_status(page, "crashed")
    logs = panel.locator(".imad-Logs")
    logs.filter(has_text="SyntaxError").wait_for(state="visible", timeout=30_000)
    assert "SyntaxError" in panel.locator(".imad-CrashSummary").inner_text()
    screenshot(page, "crashed")
    # A JupyterLab notification says what to do (never a traceback).
    toast = page.locator(".Toastify__toast", has_text="crashed")
    toast.first.wait_for(state="visible", timeout=10_000)
    assert "Traceback" not in toast.first.inner_text()

    # Undo the break and publish again: alice's app is live and her copy clean.
    page.locator(".jp-FileEditor:visible .cm-line", has_text="this is not javascript(").click()
    page.keyboard.press("Home")
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Delete")
    save(page)
    panel.locator(".imad-Change", has_text="server.js").wait_for(state="visible", timeout=15_000)
    panel.locator("#imad-commit-message").fill("Fix the syntax error")
    publish(page)
    wait_status(page, "live")
    panel.locator(".imad-NoChanges").wait_for(state="visible")
    assert marker in classroom.fetch_app(user).text

    # Unpublish asks first; keeping it live changes nothing, confirming stops it.
    unpublish = panel.get_by_role("button", name="Unpublish")
    unpublish.click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_role("button", name="Keep it live").click()
    dialog.wait_for(state="detached")
    assert page.locator(BADGE).get_attribute("data-status") == "live"
    unpublish.click()
    dialog.get_by_role("button", name="Unpublish").click()
    wait_status(page, "unpublished", timeout=30_000)
    assert unpublish.is_disabled()
