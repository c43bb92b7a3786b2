"""The edge behind Debian's nginx, configured as `deploy/nginx.conf` says (plain HTTP here,
the same proxy settings): clicks pass, and the client address comes from X-Forwarded-For
only when the edge trusts nginx, never from what a client wrote into that header."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.certificates import write_certificate
from tests.edge.helpers import EdgeProcess, Reply, wait_for_events
from tests.support import EXAMPLE_BRANDS, ROOT
from tracer.links import LinkBuilder
from tracer.redis_server import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOYED = ROOT / "deploy" / "nginx.conf"
# nginx listens on one loopback address, the test's client speaks from another (in its
# own /24, as events keep addresses truncated to /24); nginx reaches the edge from
# 127.0.0.1, the only address the edge trusts by default.
NGINX_ADDRESS = "127.0.0.2"
CLIENT_ADDRESS = "127.0.5.9"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

pytestmark = pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed")


def _paths_for(tmp: Path) -> dict[str, str]:
    """The deployed file's absolute paths, moved under the test's directory."""
    return {
        "/run/nginx.pid": str(tmp / "nginx.pid"),
        "/var/log/nginx/": f"{tmp}/",
        "/etc/ssl/tracer/fullchain.pem": str(tmp / "fullchain.pem"),
        "/etc/ssl/tracer/privkey.pem": str(tmp / "privkey.pem"),
        "/var/www/acme": str(tmp / "acme"),
    }


def _temp_paths(tmp: Path) -> str:
    # Debian's nginx has its temp paths compiled in under /var/lib/nginx.
    return "".join(
        f"    {kind}_temp_path {tmp / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )


def with_test_paths(text: str, tmp: Path) -> str:
    for deployed, local in _paths_for(tmp).items():
        text = text.replace(deployed, local)
    return text.replace("http {\n", "http {\n" + _temp_paths(tmp), 1)


def plain_http(text: str, tmp: Path, ports: dict[int, int], edge_port: int) -> str:
    """The deployed configuration without TLS: each listener on NGINX_ADDRESS with the
    test's port for its deployed one (IPv6 ones dropped), no ssl_* directive, the
    upstream on the edge's port."""
    text = with_test_paths(text, tmp)
    text = re.sub(r"^\s*ssl_[^\n]*\n", "", text, flags=re.M)
    text = re.sub(r"^\s*listen \[::\][^\n]*\n", "", text, flags=re.M)
    text = re.sub(
        r"\blisten (\d+)( ssl)?( http2)?",
        lambda match: f"listen {NGINX_ADDRESS}:{ports[int(match[1])]}",
        text,
    )
    text = text.replace("server 127.0.0.1:8080", f"server 127.0.0.1:{edge_port}")
    if os.geteuid() == 0:
        text = text.replace("user www-data;", "user root;")  # files under the test's tmp
    else:
        text = text.replace("user www-data;\n", "")
    return text


def nginx_test(config: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NGINX, "-t", "-p", f"{prefix}/", "-e", str(prefix / "error.log"), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def start_nginx(tmp_path: Path) -> Iterator[Callable[[int], dict[int, int]]]:
    """Starts nginx (not daemonised) in front of the edge on `edge_port`; returns the
    test's ports by deployed port ({80: …, 443: …}; both speak plain HTTP)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(edge_port: int) -> dict[int, int]:
        prefix = tmp_path / f"nginx-{len(started)}"
        prefix.mkdir()
        ports = {80: free_port(), 443: free_port()}
        config = prefix / "nginx.conf"
        config.write_text(plain_http(DEPLOYED.read_text(), prefix, ports, edge_port))
        checked = nginx_test(config, prefix)
        assert checked.returncode == 0, checked.stderr
        process = subprocess.Popen(
            [NGINX, "-p", f"{prefix}/", "-e", str(prefix / "error.log"), "-c", str(config),
             "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                request(ports[443], "/healthz", "t.northjobs.example")
                return ports
            except OSError:
                assert process.poll() is None, (prefix / "error.log").read_text()
                time.sleep(0.05)
        raise AssertionError("nginx did not start")

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def request(port: int, path: str, host: str, headers: dict[str, str] | None = None) -> Reply:
    """GET from CLIENT_ADDRESS to nginx, as a recipient's browser would."""
    connection = http.client.HTTPConnection(
        NGINX_ADDRESS, port, timeout=10, source_address=(CLIENT_ADDRESS, 0)
    )
    try:
        connection.request("GET", path, headers={"Host": host, **(headers or {})})
        response = connection.getresponse()
        body = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


def click_through_nginx(
    port: int, builder: LinkBuilder, message_id: str, headers: dict[str, str] | None = None
) -> Reply:
    url = builder.click("northjobs", message_id, "https://northjobs.example/jobs/7")
    host, _, path = url.removeprefix("https://").partition("/")
    return request(port, "/" + path, host, {"User-Agent": CHROME, **(headers or {})})


def test_the_deployed_configuration_passes_nginx_t(tmp_path: Path) -> None:
    """deploy/nginx.conf as it is (TLS, HTTP/2, the default server refusing other hosts),
    only its absolute paths moved and a self-signed certificate in place."""
    write_certificate(tmp_path, ["t.northjobs.example"])
    config = tmp_path / "nginx.conf"
    config.write_text(with_test_paths(DEPLOYED.read_text(), tmp_path))

    checked = nginx_test(config, tmp_path)

    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr


def test_server_names_are_the_example_brands_hosts() -> None:
    brands = tomllib.loads(EXAMPLE_BRANDS.read_text())["brands"]
    hosts = {host for brand in brands for host in brand["hosts"]}
    text = DEPLOYED.read_text()
    names = [set(block.split()) for block in re.findall(r"server_name ([^;]+);", text)]

    assert names == [hosts, hosts]


def test_client_address_comes_from_nginx_and_a_spoofed_header_is_ignored(
    start_edge: Callable[..., EdgeProcess],
    edge_env: dict[str, str],
    start_nginx: Callable[[int], dict[int, int]],
    builder: LinkBuilder,
    redis_client: redis.Redis,
) -> None:
    """1. The edge trusts loopback 127.0.0.1 (its default), where nginx connects from.
    2. A click goes through nginx, then one whose client wrote its own X-Forwarded-For.
    Result: both redirect; both events carry the client's address as nginx saw it
    (127.0.5.9, truncated to /24 by the brand's privacy setting), not nginx's and not
    the address the client made up."""
    edge = start_edge(edge_env)
    port = start_nginx(edge.port)[443]

    plain = click_through_nginx(port, builder, "m-plain")
    spoofed = click_through_nginx(port, builder, "m-spoofed", {"X-Forwarded-For": "198.51.100.23"})

    for reply in (plain, spoofed):
        assert reply.status == 302
        assert reply.location.startswith("https://northjobs.example/jobs/7?")
        assert reply.headers["cache-control"] == "no-store"
    ips = {event.message_id: event.ip for event in wait_for_events(redis_client, 2)}
    assert ips == {"m-plain": "127.0.5.0", "m-spoofed": "127.0.5.0"}
    assert request(port, "/metrics", "t.northjobs.example").status == 404
    assert request(port, "/healthz", "t.northjobs.example").status == 200


def test_plain_http_goes_to_https_and_other_hosts_get_no_answer(
    start_edge: Callable[..., EdgeProcess],
    edge_env: dict[str, str],
    start_nginx: Callable[[int], dict[int, int]],
) -> None:
    ports = start_nginx(start_edge(edge_env).port)

    moved = request(ports[80], "/c/AQABtoken?x=1", "links.northjobs.example")

    assert moved.status == 308
    assert moved.location == "https://links.northjobs.example/c/AQABtoken?x=1"
    for port in ports.values():
        with pytest.raises(http.client.RemoteDisconnected):  # 444: closed, unanswered
            request(port, "/c/AQABtoken", "t.not-a-brand.example")


def test_an_untrusted_proxy_cannot_tell_the_edge_the_client_address(
    start_edge: Callable[..., EdgeProcess],
    edge_env: dict[str, str],
    start_nginx: Callable[[int], dict[int, int]],
    builder: LinkBuilder,
    redis_client: redis.Redis,
) -> None:
    """1. The edge trusts only 192.0.2.1/32: nginx (127.0.0.1) is not a trusted proxy.
    2. A click goes through nginx with a client-supplied X-Forwarded-For.
    Result: the event's address is the peer's, nginx's 127.0.0.1 (truncated): neither
    the header's client address nor the one the client made up."""
    edge = start_edge({**edge_env, "TRACER_TRUSTED_PROXIES": "192.0.2.1/32"})
    port = start_nginx(edge.port)[443]

    reply = click_through_nginx(port, builder, "m-1", {"X-Forwarded-For": "198.51.100.23"})

    assert reply.status == 302
    (event,) = wait_for_events(redis_client, 1, trusted_proxies="192.0.2.1/32")
    assert event.ip == "127.0.0.0"
