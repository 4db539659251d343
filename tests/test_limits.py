"""Per-client limits and quotas: jobs per minute, jobs at once, GPU-seconds and upload bytes a day."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from queueing.limits import ClientLimits, LimitExceeded, client_address

from .conftest import ROOT, launched

ASSETS = ROOT / "assets"


def test_each_limit_names_itself_and_when_to_retry():
    limits = ClientLimits(jobs_per_minute=2, concurrent_jobs=2, gpu_seconds_per_day=10, upload_bytes_per_day=1000)
    limits.admit_job("a", 0)
    limits.admit_job("a", 1)
    with pytest.raises(LimitExceeded, match=r"2 jobs per minute per client\. Try again in \d+ s") as error:
        limits.admit_job("a", 1)
    assert 1 <= error.value.retry_after_s <= 60
    limits.admit_job("b", 0)  # another client has its own window
    with pytest.raises(LimitExceeded, match="2 jobs at once per client"):
        limits.admit_job("c", 2)
    limits.spend_gpu_seconds("d", 25)  # a job may overrun what was left: the quota reads as spent
    with pytest.raises(LimitExceeded, match=r"10 GPU-seconds per day per client\. Try again in 24\.0 h"):
        limits.admit_job("d", 0)
    limits.admit_upload("e", 600)
    with pytest.raises(LimitExceeded, match="1000 bytes of uploads per day"):
        limits.admit_upload("e", 600)
    unlimited = ClientLimits(0, 0, 0, 0)
    for _ in range(100):
        unlimited.admit_job("f", 50)
        unlimited.admit_upload("f", 10**12)


def test_forwarded_addresses_count_only_from_trusted_proxies():
    proxy = ("10.0.0.2",)
    assert client_address("203.0.113.9", "1.2.3.4", proxy) == "203.0.113.9"  # not a proxy: the header is ignored
    assert client_address("10.0.0.2", "1.2.3.4", proxy) == "1.2.3.4"
    # A client that writes its own header cannot choose its address: the proxy appends the real one.
    assert client_address("10.0.0.2", "6.6.6.6, 1.2.3.4", proxy) == "1.2.3.4"
    assert client_address("10.0.0.2", "1.2.3.4, 10.0.0.2", proxy) == "1.2.3.4"
    assert client_address(None, None, ()) == "unknown"


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    with launched(tmp_path_factory.mktemp("limited-outputs"), "--rate-limit", "3", "--client-jobs", "1",
                  "--upload-quota", "40KiB", "--extra-pipelines", "tests.fault_pipelines:SleepPipeline") as server:
        yield server


def sleep_job(client: Client, prompt: str):
    return client.submit(prompt, "test-sleep", 0, 7.5, 32, "medium", False, "glb", api_name="/text_to_3d")


def upload(url: str, size: int, headers: dict | None = None):
    boundary = "limits-test"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.glb"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + b"x" * size + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{url}gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


def test_jobs_at_once_then_jobs_per_minute(limited):
    url = limited["url"]
    client = Client(url, verbose=False)
    running = sleep_job(client, "sleep 30")
    studio = limited["studio"]
    deadline = time.monotonic() + 30
    while not studio.pools.status()["cpu"]["running"] and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(AppError, match="1 jobs at once per client, and 1 of yours are queued or running"):
        sleep_job(client, "sleep 0.1").result(timeout=30)
    # A spoofed X-Forwarded-For from an untrusted peer is the same client.
    spoofer = Client(url, verbose=False, headers={"X-Forwarded-For": "198.51.100.7"})
    with pytest.raises(AppError, match="jobs at once per client"):
        sleep_job(spoofer, "sleep 0.1").result(timeout=30)
    [job] = client.predict(10, "", api_name="/list_jobs")
    assert client.predict(job["id"], api_name="/cancel_job") == {"id": job["id"], "cancelling": True}
    with pytest.raises(AppError, match="cancelled"):
        running.result(timeout=60)
    # Three jobs were counted this minute (the refused ones are not): the next one is the fourth.
    with pytest.raises(AppError, match=r"Rate limit reached: 3 jobs per minute per client\. Try again in \d+ s"):
        for _ in range(3):
            sleep_job(client, "sleep 0.1").result(timeout=60)
    assert client.predict(api_name="/system_status")["queue"]["running"] == 0


def test_uploads_past_the_daily_quota_get_429_with_retry_after(limited):
    url = limited["url"]
    assert upload(url, 30_000)[0] == 200
    code, headers = upload(url, 30_000, {"X-Forwarded-For": "198.51.100.7"})
    assert code == 429 and 1 <= int(headers["Retry-After"]) <= 86400
