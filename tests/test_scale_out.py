"""Two app processes behind one address share their rate-limit counts through Redis."""

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

REDIS_URL = os.environ.get("TECOPIO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Two servers on one machine: each without gunicorn's control socket, whose default
# path is shared (the second server would take over the first one's).
GUNICORN = [sys.executable, "-m", "gunicorn", "-w", "1", "--no-control-socket"]
ROOT = Path(__file__).resolve().parent.parent


def redis_available() -> bool:
    redis = pytest.importorskip("redis")
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(port: int, process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode())
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            # Not listening yet, or its first answer is slow on a busy machine.
            time.sleep(0.2)
    raise TimeoutError(f"nothing answered on port {port}")


class Browser:
    def __init__(self):
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def failed_login(self, port: int) -> int:
        page = self.opener.open(f"http://127.0.0.1:{port}/login", timeout=10).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode(
            {"csrf_token": token, "email": "nobody@example.com", "password": "not the password"}
        ).encode()
        try:
            response = self.opener.open(f"http://127.0.0.1:{port}/login", body, timeout=10)
        except urllib.error.HTTPError as error:
            response = error
        text = response.read().decode()
        if response.status == 400:
            assert "The email or password is not correct." in text
        return response.status


@pytest.mark.skipif(not redis_available(), reason=f"no Redis at {REDIS_URL}")
def test_login_limit_counts_attempts_on_every_process(tmp_path):
    database = f"sqlite:///{tmp_path / 'scale.sqlite'}"
    env = {
        **os.environ,
        # Development mode: cookies without the Secure flag, since this test speaks plain HTTP.
        "TECOPIO_ENV": "development",
        "SECRET_KEY": "shared secret of both processes",
        "DATABASE_URL": database,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "TECOPIO_INSTANCE_PATH": str(tmp_path),
    }
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [*GUNICORN, "-b", f"127.0.0.1:{port}", "app:app"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        for port, process in zip(ports, processes, strict=True):
            wait_until_serving(port, process)
        browser = Browser()
        statuses = [browser.failed_login(ports[n % 2]) for n in range(11)]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
    # Ten attempts a minute in all, wherever they land: the eleventh is refused.
    assert statuses == [400] * 10 + [429]
