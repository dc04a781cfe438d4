"""The widgets in a real browser: JupyterLab driven by Debian's chromium through Playwright.

Selected with ``-m browser`` (``make test-browser``); part of ``make test``. Each test opens a
*copy* of a notebook (the repository's files are never opened, so never saved), runs all its
cells from JupyterLab's Run menu, waits for the kernel, and then checks what a student sees:

- every widget rendered (no "Error displaying widget", none stuck at "Loading widget...");
- tqdm's progress bars are widgets, not lines of text;
- notebook 02: choosing another layer changes the reconstruction's image data;
- notebook 04: moving the α/β slider and pressing Run previews the image *while* it is
  optimised and ends with a different image than before; uploading a photo through the page's
  file chooser (Playwright's ``set_files``) and pressing Run changes the result again, and
  *Save result* writes it into the notebook folder's ``outputs/``;
- the browser reported no JavaScript error (see ``HARMLESS_CONSOLE_ERRORS``).

Screenshots and logs are written to ``test-artifacts/browser/`` (git-ignored), also when a
test fails. The Jupyter server listens on 127.0.0.1 only, on a free port, with a random token
and temporary config, data, runtime, settings, workspace and home folders; it and its kernels
are always shut down, and the fixture checks that no process of theirs is left.

The kernels inherit ``NSTYLE_QUICK=1`` and ``NSTYLE_WEIGHTS=random`` from ``conftest.py``.
Without Playwright or chromium the tests are skipped with a hint, except under ``CI=true``,
where a missing browser is a failure (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import in_ci

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
#: Screenshots, console and server logs (git-ignored; see the README).
ARTIFACTS = REPO / "test-artifacts" / "browser"
#: Debian's chromium; ``NSTYLE_CHROMIUM`` names another binary.
CHROMIUM = os.environ.get("NSTYLE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
INSTALL_HINT = ("install it with `apt-get install chromium` (Debian's package) and "
                "`pip install playwright` (in requirements.txt); Playwright's own browser "
                "download is not needed. NSTYLE_CHROMIUM may name another chromium binary.")

#: Generous limits for a small, busy machine (milliseconds, as Playwright counts).
SERVER_START_S = 180
PAGE_MS = 120_000
RUN_ALL_MS = 300_000
WIDGET_MS = 60_000

#: Console errors that are known to be harmless, as regular expressions, each with the reason.
#: Everything else that the page logs as an error fails the test.
HARMLESS_CONSOLE_ERRORS: list[tuple[str, str]] = []


# --------------------------------------------------------------------------------------------
# The browser and the Jupyter server


def _missing_browser(reason: str):
    message = f"{reason}: {INSTALL_HINT}"
    if in_ci():
        pytest.fail(f"CI=true and the browser test cannot run. {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def artifacts() -> Path:
    for old in ARTIFACTS.glob("*"):  # only this module's own files live here
        if old.is_file():
            old.unlink()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """Temporary home, Jupyter folders and notebook copies."""
    root = tmp_path_factory.mktemp("jupyter")
    for name in ("home", "config", "data", "runtime", "settings", "workspaces", "chromium",
                 "notebooks"):
        (root / name).mkdir()
    for notebook in ("02_content_reconstruction.ipynb", "04_style_transfer.ipynb"):
        shutil.copy2(NOTEBOOKS / notebook, root / "notebooks" / notebook)
    settings = root / "settings" / "@jupyterlab"
    _write_json(settings / "notebook-extension" / "tracker.jupyterlab-settings",
                # Every cell stays in the page (no virtual scrolling), so every output can be
                # checked and the screenshots show them.
                {"windowingMode": "none", "scrollPastEnd": False})
    _write_json(settings / "apputils-extension" / "notification.jupyterlab-settings",
                # No news or update checks: the test machine has no internet, and no toast.
                {"fetchNews": "false", "checkForUpdates": False})
    return root


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Lab:
    base_url: str
    token: str

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}?token={self.token}"

    def api(self, path: str, method: str = "GET", body=None):
        request = urllib.request.Request(
            f"{self.base_url}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None


@pytest.fixture(scope="module")
def browser_binary() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing_browser("the Python package playwright is not installed")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _missing_browser(f"no chromium at {CHROMIUM}")
    return CHROMIUM


@pytest.fixture(scope="module")
def lab(browser_binary, sandbox, artifacts):
    """``jupyter lab`` on 127.0.0.1 with a token; always stopped, with all its processes."""
    import psutil

    token = secrets.token_hex(32)
    port = _free_port()
    env = dict(os.environ)  # NSTYLE_QUICK=1, NSTYLE_WEIGHTS=random (conftest.py) included
    for name in ("JUPYTER_PATH", "JUPYTER_PREFER_ENV_PATH", "JUPYTER_ALLOW_INSECURE_WRITES"):
        env.pop(name, None)
    env.update({
        "HOME": str(sandbox / "home"),
        "JUPYTER_CONFIG_DIR": str(sandbox / "config"),
        "JUPYTER_DATA_DIR": str(sandbox / "data"),
        "JUPYTER_RUNTIME_DIR": str(sandbox / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(sandbox / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(sandbox / "workspaces"),
        "IPYTHONDIR": str(sandbox / "home" / ".ipython"),
        "JUPYTER_TOKEN": token,  # in the environment, not on the command line (ps shows that)
        # One torch thread per kernel: the test machine has two busy cores.
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    })
    if "MPLCONFIGDIR" not in env:  # reuse matplotlib's font cache despite the new home
        import matplotlib
        env["MPLCONFIGDIR"] = matplotlib.get_cachedir()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser",
               "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
               f"--ServerApp.root_dir={sandbox / 'notebooks'}",
               "--ServerApp.terminals_enabled=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    log = open(artifacts / "jupyter-server.log", "w")
    server = subprocess.Popen(command, env=env, cwd=sandbox / "notebooks", stdout=log,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    handle = Lab(base_url=f"http://127.0.0.1:{port}", token=token)
    try:
        _wait_for_server(server, handle)
        _assert_loopback_only(server.pid, port)
        yield handle
    finally:
        _stop(server, handle, psutil)
        log.close()


def _wait_for_server(server: subprocess.Popen, lab: Lab) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited with status {server.returncode}; see "
                        f"{ARTIFACTS / 'jupyter-server.log'}", pytrace=False)
        try:
            lab.api("/api/status")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {SERVER_START_S} s", pytrace=False)


def _assert_loopback_only(pid: int, port: int) -> None:
    import psutil

    try:
        listening = [c for c in psutil.Process(pid).net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN]
    except psutil.AccessDenied:  # not allowed to look: the --ip option must do
        return
    addresses = {c.laddr.ip for c in listening if c.laddr.port == port}
    assert addresses, f"jupyter lab does not listen on port {port}"
    assert addresses <= {"127.0.0.1"}, f"jupyter lab listens on {addresses}, not only loopback"


def _stop(server: subprocess.Popen, lab: Lab, psutil) -> None:
    """Shut the kernels and the server down; terminate, then kill, whatever is left."""
    try:
        family = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if server.poll() is None:
        try:  # ask politely first: the kernels, then the server
            for kernel in lab.api("/api/kernels") or []:
                lab.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        except (urllib.error.URLError, OSError, ValueError):
            pass
        server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=30)
    alive = [p for p in family if p.is_running()]
    for stop in (psutil.Process.terminate, psutil.Process.kill):  # politely, then not
        for process in alive:
            try:
                stop(process)
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(alive, timeout=15)
    assert server.returncode is not None, "the Jupyter server is still running"
    assert not alive, f"processes of the Jupyter server are still running: {alive}"


@pytest.fixture(scope="module")
def browser(browser_binary, sandbox):
    """Chromium with a fresh profile (``--user-data-dir``, passed the way Playwright wants)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            sandbox / "chromium", executable_path=browser_binary, headless=True,
            args=CHROMIUM_ARGS, env={**os.environ, "HOME": str(sandbox / "home")},
            viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(PAGE_MS)
        try:
            yield context
        finally:
            context.close()


@dataclass
class Console:
    """What the page reported: console messages and uncaught exceptions."""

    messages: list[str]
    errors: list[str]

    def unexpected_errors(self) -> list[str]:
        return [error for error in self.errors
                if not any(re.search(pattern, error) for pattern, _ in HARMLESS_CONSOLE_ERRORS)]


@pytest.fixture
def page(browser, artifacts, request):
    tab = browser.new_page()
    console = Console(messages=[], errors=[])

    def on_console(message):
        text = f"[{message.type}] {message.text}"
        where = message.location or {}
        if where.get("url"):
            text += f"  ({where['url']}:{where.get('lineNumber')})"
        console.messages.append(text)
        if message.type == "error":
            console.errors.append(text)

    def on_page_error(error):
        text = f"[pageerror] {error}"
        console.messages.append(text)
        console.errors.append(text)

    tab.on("console", on_console)
    tab.on("pageerror", on_page_error)
    tab.console = console
    try:
        yield tab
    finally:
        name = request.node.name.removeprefix("test_")
        try:
            tab.screenshot(path=artifacts / f"{name}-last.png")
            (artifacts / f"{name}-page.html").write_text(tab.content())
        except Exception:  # noqa: BLE001 (a screenshot must not hide the test's own failure)
            pass
        (artifacts / f"{name}-console.log").write_text("\n".join(console.messages) + "\n")
        tab.close()


# --------------------------------------------------------------------------------------------
# Driving JupyterLab

#: The SHA-256 of the bytes behind an <img>'s src (a blob: or data: URL), and their length.
IMAGE_DIGEST_JS = """async (img) => {
    const src = img.getAttribute('src');
    if (!src) return {src: '', size: 0, hash: ''};
    const bytes = await (await fetch(src)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    const hash = Array.from(new Uint8Array(digest), b => b.toString(16).padStart(2, '0')).join('');
    return {src, size: bytes.byteLength, hash};
}"""

#: True when the run is over: no cell waits or runs, and every code cell has run (or one
#: failed, which leaves the cells after it unrun).
RUN_ALL_DONE_JS = """(notebook) => {
    const prompts = [...notebook.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
        .map(p => p.textContent.trim());
    if (prompts.length === 0 || prompts.some(p => p.includes('*'))) return false;
    const failed = [...notebook.querySelectorAll('.jp-OutputArea-output')]
        .some(o => o.textContent.includes('Traceback (most recent call last)'));
    return failed || prompts.every(p => /^\\[\\d+\\]:$/.test(p));
}"""


def start_session(lab: Lab, name: str) -> str:
    """Start the notebook's kernel session on the server; returns the kernel's id.

    JupyterLab then connects to this session instead of starting a kernel itself: when it
    starts one, it sometimes (on a busy machine) replaces it with a second kernel a moment
    later, which silently drops the cells Run All Cells had queued on the first.
    """
    session = lab.api("/api/sessions", method="POST",
                      body={"path": name, "name": name, "type": "notebook",
                            "kernel": {"name": "python3"}})
    return session["kernel"]["id"]


def kernel_of(lab: Lab, name: str) -> list[str]:
    """The ids of the kernels of the server's sessions for ``name``."""
    return [s["kernel"]["id"] for s in lab.api("/api/sessions") if s["path"] == name]


def open_notebook(page, lab: Lab, name: str) -> str:
    """Open ``name`` alone, in a fresh workspace of its own, and wait for its kernel.

    Returns the kernel's id.
    """
    kernel = start_session(lab, name)
    workspace = re.sub(r"\W", "-", name)
    page.goto(lab.url(f"/lab/workspaces/{workspace}/tree/{name}") + "&reset")
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(state="visible")
    panels = page.locator(".jp-NotebookPanel")
    assert panels.count() == 1, f"{panels.count()} notebooks are open, expected only {name}"
    assert page.locator(".lm-TabBar-tab.jp-mod-current .lm-TabBar-tabLabel",
                        has_text=name).count() >= 1
    wait_for_kernel_idle(page)
    assert kernel_of(lab, name) == [kernel], "JupyterLab replaced the notebook's kernel"
    return kernel


def wait_for_kernel_idle(page, timeout: int = PAGE_MS) -> None:
    """JupyterLab's kernel indicator in the notebook toolbar says idle."""
    page.locator(".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator"
                 "[data-status='idle']").wait_for(state="attached", timeout=timeout)


def run_all_cells(page) -> float:
    """Run → Run All Cells, as a student would; wait for the end. Returns the seconds taken."""
    page.locator(".jp-Notebook .jp-Cell").first.click()  # the notebook is the active panel
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    start = time.monotonic()
    notebook = page.locator(".jp-NotebookPanel .jp-Notebook").element_handle()
    try:
        page.wait_for_function(RUN_ALL_DONE_JS, arg=notebook, timeout=RUN_ALL_MS, polling=500)
    except Exception as error:  # noqa: BLE001 (say where the run stood)
        prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_text_contents()
        raise AssertionError(f"Run All Cells did not finish: prompts {prompts}") from error
    wait_for_kernel_idle(page)
    return time.monotonic() - start


def assert_all_cells_ran(page) -> None:
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_text_contents()
    errors = page.locator(".jp-Notebook .jp-OutputArea-output").filter(
        has_text="Traceback (most recent call last)").all_text_contents()
    assert not errors, "a cell failed:\n" + "\n\n".join(errors)
    unrun = [k for k, prompt in enumerate(prompts) if not re.match(r"^\[\d+\]:$", prompt.strip())]
    assert not unrun, f"code cells {unrun} did not run: {prompts}"


def widget_outputs(page):
    """The outputs that display a widget: JupyterLab's ordinary renderers mark their output
    with its MIME type, the widget renderer (a panel holding the widget's view) does not."""
    return page.locator(".jp-Notebook .jp-OutputArea-output:not([data-mime-type])")


def assert_widgets_rendered(page) -> int:
    """Every widget output shows a rendered widget; returns how many there are."""
    outputs = widget_outputs(page)
    page.wait_for_function(
        """() => ![...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
                  .some(o => o.textContent.includes('Loading widget...'))""",
        timeout=WIDGET_MS, polling=250)
    texts = page.locator(".jp-Notebook .jp-OutputArea-output").all_text_contents()
    broken = [text for text in texts if "Error displaying widget" in text]
    assert not broken, f"widgets failed to display: {broken}"
    count = outputs.count()
    assert count > 0, "no widget output in the notebook"
    for k in range(count):
        view = outputs.nth(k).locator(":scope > .jupyter-widgets")
        assert view.count() == 1, f"widget output {k} contains no rendered widget"
        box = view.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0, f"widget {k} has no size"
    return count


def assert_progress_bars_are_widgets(page, at_least: int) -> int:
    """tqdm.auto drew ipywidgets progress bars, all complete, and no text bars.

    tqdm's widget is an HBox (description, bar, counts) displayed on its own; a finished bar
    is green (``progress-bar-success``). Returns how many there are.
    """
    bars = page.locator(".jp-Notebook .jp-OutputArea-output:not([data-mime-type])"
                        " > .widget-hbox > .widget-hprogress")
    count = bars.count()
    assert count >= at_least, f"expected at least {at_least} progress-bar widgets, found {count}"
    finished = bars.locator(".progress-bar.progress-bar-success").count()
    assert finished == count, f"only {finished} of {count} progress bars are complete"
    text = "\n".join(page.locator(
        ".jp-Notebook .jp-OutputArea-output[data-mime-type^='application/vnd.jupyter.std']"
    ).all_text_contents())
    text_bars = re.findall(r".*\d+%\|.*", text)
    assert not text_bars, f"progress bars printed as text: {text_bars}"
    return count


def assert_no_console_errors(page) -> None:
    unexpected = page.console.unexpected_errors()
    assert not unexpected, "JavaScript errors in the browser:\n" + "\n".join(unexpected)


def image_digest(image) -> dict:
    """The SHA-256 of an <img> element's image data (a Playwright locator)."""
    return image.evaluate(IMAGE_DIGEST_JS)


def captioned_image(widget, caption: str):
    """The ipywidgets Image under the bold caption ``caption`` (a VBox of HTML + Image)."""
    return widget.locator(
        f".widget-vbox:has(> .widget-html b:text-is('{caption}')) > img.widget-image")


def notebook_screenshot(page, path: Path) -> None:
    """The whole notebook: the window is made as tall as the notebook for the picture."""
    size = page.viewport_size
    to_top = """() => {
        const panel = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');
        panel.scrollTop = 0;
        const cells = panel.querySelectorAll('.jp-Cell');
        const last = cells[cells.length - 1].getBoundingClientRect().bottom;
        return Math.ceil(last - panel.getBoundingClientRect().top);
    }"""
    content = page.evaluate(to_top)
    extra = size["height"] - page.locator(".jp-NotebookPanel .jp-WindowedPanel-outer") \
        .bounding_box()["height"]  # menus, toolbar, status bar
    page.set_viewport_size({"width": size["width"],
                            "height": min(16_000, int(content + extra + 40))})
    try:
        page.evaluate(to_top)
        page.screenshot(path=path)
    finally:
        page.set_viewport_size(size)


def run_notebook_checked(lab, page, name: str, *, progress_bars: int) -> None:
    """Open ``name``, run all cells in one kernel, and check every output rendered."""
    kernel = open_notebook(page, lab, name)
    run_all_cells(page)
    assert kernel_of(lab, name) == [kernel]
    assert_all_cells_ran(page)
    assert_widgets_rendered(page)
    assert_progress_bars_are_widgets(page, at_least=progress_bars)


# --------------------------------------------------------------------------------------------
# The tests


def test_layer_browser_in_jupyterlab(lab, page, artifacts):
    """Notebook 02: all widgets render; choosing a layer changes the reconstruction shown."""
    run_notebook_checked(lab, page, "02_content_reconstruction.ipynb", progress_bars=1)

    browser = widget_outputs(page).filter(
        has=page.locator(".widget-toggle-button", has_text="relu1_2"))
    assert browser.count() == 1, "the layer browser is not in the notebook's outputs"
    buttons = browser.locator(".widget-toggle-button")
    names = [name.strip() for name in buttons.all_text_contents()]
    assert names == ["relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2"], names
    reconstruction = captioned_image(browser, "reconstruction")
    loss_plot = captioned_image(browser, "loss")
    original = captioned_image(browser, "original")
    for image in (reconstruction, loss_plot, original):
        expect_decoded(image)
    assert browser.locator(".widget-toggle-button.mod-active").inner_text().strip() == "relu5_2"
    browser.scroll_into_view_if_needed()
    notebook_screenshot(page, artifacts / "02-notebook-before.png")
    browser.screenshot(path=artifacts / "02-layer-browser-before.png")
    before = image_digest(reconstruction)
    plot_before = image_digest(loss_plot)
    original_digest = image_digest(original)
    assert before["size"] > 0 and before["hash"] != original_digest["hash"]

    buttons.filter(has_text="relu1_2").click()
    wait_until(page, "([img, old]) => img.getAttribute('src') !== old",
               [reconstruction.element_handle(), before["src"]],
               "the reconstruction was not redrawn after choosing relu1_2")
    expect_decoded(reconstruction)
    after = image_digest(reconstruction)
    assert browser.locator(".widget-toggle-button.mod-active").inner_text().strip() == "relu1_2"
    assert after["size"] > 0
    assert after["hash"] != before["hash"], "the reconstruction's image data did not change"
    assert image_digest(loss_plot)["hash"] != plot_before["hash"], "the loss plot did not change"
    browser.screenshot(path=artifacts / "02-layer-browser-after.png")
    notebook_screenshot(page, artifacts / "02-notebook-after.png")
    assert_no_console_errors(page)


def wait_until(page, predicate: str, arg, failure: str, timeout: int = WIDGET_MS) -> None:
    """Wait for a JavaScript predicate; fail with ``failure`` (not a bare timeout)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(predicate, arg=arg, timeout=timeout)
    except PlaywrightTimeout:
        pytest.fail(f"{failure} (waited {timeout / 1000:.0f} s)", pytrace=False)


def expect_decoded(image) -> None:
    """The <img> shows a decoded picture (not a broken or empty one)."""
    image.wait_for(state="visible", timeout=WIDGET_MS)
    image.page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                 arg=image.element_handle(), timeout=WIDGET_MS)


#: Records, in the page, what the explorer shows while a run goes on: every change of the result
#: image (with the SHA-256 of its data), of the Run button and of the status line. A fast run's
#: previews come and go within milliseconds, faster than any polling from Python; and the
#: status line reads "done: ..." before the run as after it, so only this timeline tells that
#: the run we started has ended. Each event notes whether the Run button was disabled then,
#: i.e. the optimisation was still running.
WATCH_RUN_JS = """([img, button, status]) => {
    const events = [];
    const digest = async (src) => {
        const bytes = await (await fetch(src)).arrayBuffer();
        const d = await crypto.subtle.digest('SHA-256', bytes);
        return Array.from(new Uint8Array(d), b => b.toString(16).padStart(2, '0')).join('');
    };
    const note = (kind) => events.push({
        kind, running: button.disabled, status: status.textContent.trim(),
        // fetch now: the widget revokes the blob: URL as soon as the next image arrives
        hash: kind === 'image' ? digest(img.getAttribute('src')).catch(e => 'error: ' + e)
                               : null});
    const watch = (node, kind, options) => {
        const observer = new MutationObserver(() => note(kind));
        observer.observe(node, options);
        return observer;
    };
    const text = {childList: true, characterData: true, subtree: true};
    window.__nstyleRun = {events, observers: [
        watch(img, 'image', {attributes: true, attributeFilter: ['src']}),
        watch(button, 'button', {attributes: true, attributeFilter: ['disabled'], ...text}),
        watch(status, 'status', text)]};
}"""

#: The run started after the watch began (the button was disabled) and has ended since (the
#: button is enabled again and the status line says done or error).
RUN_ENDED_JS = """([button, status]) => {
    const events = window.__nstyleRun.events;
    const started = events.findIndex(e => e.running);
    return started >= 0 && !button.disabled
        && /^(done|error):/.test(status.textContent.trim())
        && events.slice(started).some(e => e.kind === 'status' && /^(done|error):/.test(e.status));
}"""

COLLECT_RUN_JS = """async () => {
    const watch = window.__nstyleRun;
    watch.observers.forEach(o => o.disconnect());
    return Promise.all(watch.events.map(async e => ({...e, hash: await e.hash})));
}"""


def run_explorer(page, explorer) -> list[dict]:
    """Press Run, wait for the end of that run; returns the timeline (``WATCH_RUN_JS``)."""
    button = explorer.locator("button.widget-button", has_text="Run")
    status = explorer.locator(".widget-hbox:has(> button.widget-button) > .widget-label")
    handles = [button.element_handle(), status.element_handle()]
    page.evaluate(WATCH_RUN_JS, [captioned_image(explorer, "result").element_handle(),
                                 *handles])
    button.click()
    wait_until(page, RUN_ENDED_JS, handles, "the run did not end (or never started)",
               timeout=WIDGET_MS * 3)
    events = page.evaluate(COLLECT_RUN_JS)
    assert status.inner_text().startswith("done:"), status.inner_text()
    assert not [e for e in events if (e["hash"] or "").startswith("error")], events
    return events


def test_style_transfer_explorer_in_jupyterlab(lab, page, artifacts, sandbox):
    """Notebook 04: all widgets render; α/β + Run previews while optimising, then a new image;
    an uploaded photo changes the result, which the save button writes into outputs/."""
    run_notebook_checked(lab, page, "04_style_transfer.ipynb", progress_bars=2)

    explorer = widget_outputs(page).filter(
        has=page.locator("button.widget-button", has_text="Run"))
    assert explorer.count() == 1, "the style transfer explorer is not in the outputs"
    result = captioned_image(explorer, "result")
    content = captioned_image(explorer, "content")
    explorer.scroll_into_view_if_needed()
    notebook_screenshot(page, artifacts / "04-notebook-before.png")
    explorer.screenshot(path=artifacts / "04-explorer-before.png")

    # A first run at the default α/β: the image to compare with.
    run_explorer(page, explorer)
    expect_decoded(result)
    first = image_digest(result)
    assert first["size"] > 0 and first["hash"] != image_digest(content)["hash"]
    explorer.screenshot(path=artifacts / "04-explorer-first-run.png")

    # Move the α/β slider to its left end (α/β ÷ 10⁶ and more: style dominates; at the right
    # end the relative balance keeps the content image itself as the best image).
    slider = explorer.locator(".widget-slider", has=page.locator("label", has_text="α/β"))
    readout = slider.locator(".widget-readout")
    ratio_before = readout.inner_text()
    handle = slider.locator(".noUi-handle")
    track = slider.locator(".noUi-target").bounding_box()
    grip = handle.bounding_box()
    page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] - 40, grip["y"] + grip["height"] / 2, steps=8)
    page.mouse.up()
    wait_until(page, "([r, old]) => r.textContent.trim() !== old",
               [readout.element_handle(), ratio_before], "the α/β slider did not move")
    ratio_after = readout.inner_text()
    assert float(ratio_after) < float(ratio_before) / 1e5, (ratio_before, ratio_after)

    events = run_explorer(page, explorer)
    expect_decoded(result)
    final = image_digest(result)
    explorer.screenshot(path=artifacts / "04-explorer-after.png")
    notebook_screenshot(page, artifacts / "04-notebook-after.png")

    (artifacts / "04-explorer-run.json").write_text(json.dumps(
        {"ratio": [ratio_before, ratio_after], "first_run": first["hash"],
         "events": events, "final": final["hash"]}, indent=1))
    previews = [e["hash"] for e in events if e["kind"] == "image" and e["running"]]
    assert previews, f"no preview while the optimisation ran (what changed: {events})"
    assert any(h != first["hash"] for h in previews), "the previews showed the old image"
    assert final["hash"] != first["hash"], (
        f"the result did not change after moving α/β from {ratio_before} to {ratio_after}")
    assert final["hash"] != image_digest(content)["hash"]
    progress = explorer.locator(".widget-hprogress .progress-bar")
    assert progress.count() == 1

    upload_photo_run_and_save(page, explorer, sandbox, artifacts, before=final["hash"])
    assert_no_console_errors(page)


def upload_photo_run_and_save(page, explorer, sandbox: Path, artifacts: Path, *,
                              before: str) -> None:
    """A student's own photo: upload it through the page's file chooser, press Run, see the
    preview change and a new result, and save it into the notebook's outputs/ folder."""
    from PIL import Image

    photo = sandbox / "home" / "my-photo.png"
    Image.linear_gradient("L").resize((64, 48)).convert("RGB").save(photo)
    content = captioned_image(explorer, "content")
    thumbnail_before = image_digest(content)["hash"]
    status = explorer.locator(".widget-hbox:has(> button.widget-button) > .widget-label")
    with page.expect_file_chooser() as chooser:  # the page's own <input type="file">
        explorer.locator("button.widget-upload", has_text="your content").click()
    chooser.value.set_files(photo)
    wait_until(page, "s => s.textContent.trim().startsWith('content: my-photo.png')",
               status.element_handle(), "the uploaded photo was not taken")
    expect_decoded(content)
    assert image_digest(content)["hash"] != thumbnail_before, "the thumbnail did not change"

    events = run_explorer(page, explorer)
    result = captioned_image(explorer, "result")
    expect_decoded(result)
    uploaded = image_digest(result)["hash"]
    previews = [e["hash"] for e in events if e["kind"] == "image" and e["running"]]
    assert previews and any(h != before for h in previews), events
    assert uploaded != before, "the result did not change after uploading a photo"
    explorer.screenshot(path=artifacts / "04-explorer-uploaded.png")

    explorer.locator("button.widget-button", has_text="Save result").click()
    wait_until(page, "s => s.textContent.trim().startsWith('saved ')",
               status.element_handle(), "the result was not saved")
    saved = sandbox / "notebooks" / "outputs" / "my-photo_great_wave.png"
    assert status.inner_text().strip() == f"saved {Path('outputs') / saved.name}"
    with Image.open(saved) as picture:
        assert picture.size == (32, 24)  # the photo at the section's quick-mode size
