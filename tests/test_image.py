"""The image without Docker: the Dockerfile's stages, user and build context, its model
check, its ENTRYPOINT + CMD with its ENV and its HEALTHCHECK run as written, the worker
command that compose and the chart run, and the compose proxy's nginx configuration run with
Debian's nginx in front of that server, passing a widget WebSocket (docs/deployment.md)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

import httpx
import pytest
import websockets

from tests.deploykit import (
    NGINX_TEMPLATE,
    ROOT,
    compose,
    dockerfile,
    dockerfile_exec,
    dockerfile_port,
    dockerfile_uid,
    final_stage,
)
from tests.servers import free_port

# -- the Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_slim_and_runs_as_a_numeric_non_root_user():
    stages = [rest for name, rest in dockerfile() if name == "FROM"]
    assert len(stages) >= 2 and all("${PYTHON_IMAGE}" in s for s in stages)
    (base,) = [rest for name, rest in dockerfile() if name == "ARG" and "PYTHON_IMAGE" in rest]
    assert base.endswith("-slim-bookworm")
    assert dockerfile_uid() >= 1000
    assert dockerfile_exec("ENTRYPOINT") == ["smartsupport"]
    copies = [rest for name, rest in final_stage() if name == "COPY"]
    assert copies == ["--from=build /opt/smartsupport /opt/smartsupport"]


def test_the_image_installs_the_drivers_the_compose_and_chart_urls_need():
    (extras,) = [rest for name, rest in dockerfile() if name == "ARG" and "EXTRAS=" in rest]
    installed = set(extras.partition("=")[2].split(","))
    with (ROOT / "pyproject.toml").open("rb") as handle:
        declared = tomllib.load(handle)["project"]["optional-dependencies"]
    assert installed <= set(declared)
    environment = compose()["services"]["web"]["environment"]
    assert environment["SMARTSUPPORT_DATABASE_URL"].startswith("postgresql://")
    assert environment["SMARTSUPPORT_EVENTS_URL"].startswith("amqp://")
    assert {"postgres", "redis", "events"} <= installed


def test_dockerignore_sends_only_what_the_image_copies():
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]  # fmt: skip

    def sent(name: str) -> bool:
        verdict = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            if fnmatch.fnmatch(name, pattern.lstrip("!").rstrip("/")):
                verdict = negated
        return verdict

    copied = set()
    for name, rest in dockerfile():
        if name == "COPY" and not rest.startswith("--from"):
            copied |= {Path(p).parts[0] for p in rest.split()[:-1]}
    assert copied == {"pyproject.toml", "README.md", "smartsupport"}
    assert all(sent(name) for name in copied)
    assert not any(sent(name) for name in (".venv", ".git", "tests", "bench", "docs"))


def test_the_image_build_model_check_passes_with_the_packaged_models():
    (check,) = [rest for name, rest in dockerfile() if name == "RUN" and "get_embedder" in rest]
    argv = shlex.split(check)
    assert argv[0] == "/opt/smartsupport/bin/python"
    done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


# -- the image's commands, run as written --------------------------------------------------


def image_environment(data: Path) -> dict[str, str]:
    """The final stage's ENV with the image's paths mapped onto this machine's."""
    environment = dict(os.environ)
    for name, rest in final_stage():
        if name != "ENV":
            continue
        for pair in shlex.split(rest):
            key, _, value = pair.partition("=")
            value = value.replace("/opt/smartsupport/bin", str(Path(sys.executable).parent))
            value = value.replace("$PATH", os.environ["PATH"])
            value = re.sub(r"^/(data|tmp)\b", lambda m: str(data / m.group(1)), value)
            environment[key] = value
    return environment


def health_check(port: int) -> subprocess.CompletedProcess[str]:
    argv = dockerfile_exec("HEALTHCHECK")
    assert argv[0] == "python"
    argv = [sys.executable] + [a.replace(str(dockerfile_port()), str(port)) for a in argv[1:]]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def image_server(tmp_path_factory):
    """The image's ENTRYPOINT + CMD with its ENV, on a free port instead of 8000."""
    data = tmp_path_factory.mktemp("image")
    (data / "data").mkdir()
    port = free_port()
    argv = dockerfile_exec("ENTRYPOINT") + dockerfile_exec("CMD")
    argv = [a.replace(str(dockerfile_port()), str(port)) for a in argv]
    argv[0] = str(Path(sys.executable).parent / argv[0])  # the venv's console script, as on PATH
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(
        argv, env=image_environment(data), stdout=log, stderr=subprocess.STDOUT, cwd=data / "data"
    )
    try:
        deadline = time.monotonic() + 120  # the Dockerfile's start period
        while health_check(port).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the image's command did not become healthy:\n{log_tail(data)}")
            time.sleep(0.5)
        yield port, data
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def log_tail(data: Path) -> str:
    return "\n".join((data / "server.log").read_text(errors="replace").splitlines()[-30:])


def test_the_image_command_serves_and_its_health_check_passes_then_fails_when_down(image_server):
    port, data = image_server
    assert health_check(port).returncode == 0
    assert (data / "data" / "smartsupport.db").exists()  # SMARTSUPPORT_DATA_DIR from ENV
    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert health_check(free_port()).returncode != 0  # nothing listens there


def test_the_worker_command_of_compose_and_the_chart_runs_until_sigterm(tmp_path):
    argv = [
        str(Path(sys.executable).parent / "smartsupport"),
        *compose()["services"]["worker"]["command"],
    ]
    environment = {**image_environment(tmp_path), "SMARTSUPPORT_DATA_DIR": str(tmp_path)}
    process = subprocess.Popen(
        argv, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        output = []
        while not output or " worker w-" not in output[-1]:  # printed once services are open
            line = process.stdout.readline()
            assert line, "the worker exited while starting:\n" + "".join(output)
            output.append(line)
        assert output[-1].rstrip().endswith("running")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


# -- the compose proxy, run with Debian's nginx ------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        pytest.fail("nginx is required (Debian: nginx-light); scripts/test installs it")
    return found


@pytest.fixture
def proxy(image_server, tmp_path):
    """The proxy's template rendered as the nginx image's entrypoint does (envsubst of the
    compose service's variables), pointed at the image server, in a minimal main config."""
    port, _ = image_server
    variables = dict(compose()["services"]["proxy"]["environment"])
    variables |= {"SMARTSUPPORT_UPSTREAM": f"127.0.0.1:{port}", "NGINX_RESOLVER": "127.0.0.1"}
    text = NGINX_TEMPLATE.read_text()
    for name, value in variables.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text
    listen = free_port()
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    (tmp_path / "default.conf").write_text(text)
    temp = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"worker_processes 1; pid {tmp_path / 'nginx.pid'}; error_log {tmp_path / 'error.log'};"
        f"events {{ worker_connections 64; }}"
        f"http {{ access_log off; {temp} include {tmp_path / 'default.conf'}; }}"
    )
    nginx = nginx_binary()
    checked = subprocess.run([nginx, "-t", "-c", tmp_path / "nginx.conf"], capture_output=True)
    assert checked.returncode == 0, checked.stderr.decode()
    process = subprocess.Popen(
        [nginx, "-c", tmp_path / "nginx.conf", "-g", "daemon off;"], stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{listen}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("nginx did not start: " + (tmp_path / "error.log").read_text())
                time.sleep(0.1)
        yield f"127.0.0.1:{listen}"
    finally:
        process.terminate()
        process.wait(10)


async def test_the_proxy_passes_http_and_widget_websockets(proxy):
    async with httpx.AsyncClient(base_url=f"http://{proxy}", timeout=30) as client:
        assert (await client.get("/healthz")).json()["status"] == "ok"
        created = await client.post("/api/v1/conversations", json={"workspace": "demo"})
        assert created.status_code == 201, created.text
    conversation = created.json()
    url = f"ws://{proxy}/api/v1/conversations/{conversation['id']}/ws"
    client_id = uuid.uuid4().hex
    async with websockets.connect(url) as socket:
        await socket.send(json.dumps({"type": "hello", "token": conversation["token"], "after": 0}))
        assert json.loads(await socket.recv())["type"] == "ready"
        await socket.send(json.dumps({"type": "message", "text": "hello", "client_id": client_id}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            frame = json.loads(await socket.recv())
            if frame["type"] == "message" and frame["message"].get("client_id") == client_id:
                break
        else:
            pytest.fail("the customer's message was not acknowledged through the proxy")
