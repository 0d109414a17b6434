"""components.common.notify against a real loopback HTTP receiver started by the test."""

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kfp_mlops.components.common import notify
from tests.conftest import free_port


class WebhookReceiver:
    """A Slack-like webhook on 127.0.0.1: records every POST body; answers ``statuses`` in turn.

    Attributes:
        url: Where to post (the path carries a fake token, as Slack's URLs do).
        received: JSON bodies received, in order.
        statuses: Status codes to answer, one per request; 200 once they run out.
    """

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: list[dict] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server calls it by this name
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                receiver.received.append(
                    {
                        "path": self.path,
                        "type": self.headers.get("Content-Type"),
                        **json.loads(body),
                    }
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:  # keep pytest output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver answering 200."""
    server = WebhookReceiver()
    try:
        yield server
    finally:
        server.close()


def test_message_is_slack_compatible():
    payload = notify.message("*model* v3 promoted", {"Run": "job-1", "Error": "", "State": "OK"})
    assert payload["text"] == "*model* v3 promoted"
    assert payload["blocks"][0] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*model* v3 promoted"},
    }
    assert [f["text"] for f in payload["blocks"][1]["fields"]] == ["*Run*\njob-1", "*State*\nOK"]
    assert "blocks" in notify.message("x") and len(notify.message("x")["blocks"]) == 1


def test_post_delivers_the_json_to_the_receiver(receiver):
    assert notify.notify("hello", {"Run": "job-1"}, url=receiver.url) is True
    [got] = receiver.received
    assert got["type"] == "application/json"
    assert got["path"] == "/services/T000/B000/secret-token"
    assert got["text"] == "hello"
    assert got["blocks"][1]["fields"][0]["text"] == "*Run*\njob-1"


def test_one_retry_after_a_server_error():
    server = WebhookReceiver(statuses=[503])
    try:
        assert notify.post(server.url, {"text": "again"}, retry_delay=0) is True
        assert [r["text"] for r in server.received] == ["again", "again"]
    finally:
        server.close()


def test_client_errors_are_not_retried_and_only_logged(caplog):
    server = WebhookReceiver(statuses=[404, 200])
    try:
        with caplog.at_level(logging.WARNING, logger=notify.__name__):
            assert notify.post(server.url, {"text": "x"}, retry_delay=0) is False
        assert len(server.received) == 1
        assert "HTTP 404" in caplog.text
    finally:
        server.close()


def test_unreachable_webhook_returns_false_logs_and_hides_the_token(caplog):
    url = f"http://127.0.0.1:{free_port()}/services/T000/B000/secret-token"
    with caplog.at_level(logging.WARNING, logger=notify.__name__):
        assert notify.post(url, {"text": "x"}, timeout=2, retry_delay=0) is False
    assert "could not send the notification" in caplog.text
    assert "127.0.0.1" in caplog.text and "secret-token" not in caplog.text


def test_the_url_comes_from_the_environment(receiver, monkeypatch):
    monkeypatch.delenv(notify.WEBHOOK_ENV, raising=False)
    assert notify.notify("nobody listens") is False  # no URL: skipped, nothing raised
    monkeypatch.setenv(notify.WEBHOOK_ENV, receiver.url)
    assert notify.notify("from env") is True
    assert [r["text"] for r in receiver.received] == ["from env"]


def test_a_non_http_url_is_refused_without_raising(caplog):
    with caplog.at_level(logging.WARNING, logger=notify.__name__):
        assert notify.post("file:///etc/passwd", {"text": "x"}) is False
    assert "not http(s)" in caplog.text


def test_the_secret_helper_maps_the_key_to_the_variable():
    from kfp import compiler, dsl

    from kfp_mlops.components.registry.record_outcome.component import record_outcome
    from kfp_mlops.pipelines.k8s import with_notification_secret

    @dsl.component(base_image="python:3.11")
    def work():
        pass

    @dsl.pipeline(name="notify-secret")
    def pipe(tracking_uri: str = ""):
        exit_task = with_notification_secret(record_outcome(tracking_uri=tracking_uri))
        with dsl.ExitHandler(exit_task):
            work()

    import tempfile
    from pathlib import Path

    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.yaml"
        compiler.Compiler().compile(pipe, str(path))
        docs = list(yaml.safe_load_all(path.read_text()))
    platform = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    [spec] = [v for k, v in platform.items() if "record-outcome" in k]
    [secret] = spec["secretAsEnv"]
    assert secret["keyToEnv"] == [{"secretKey": "webhook_url", "envVar": notify.WEBHOOK_ENV}]
    assert secret["optional"] is True
    assert secret["secretName"] == notify.NOTIFY_SECRET == "kfp-mlops-notify"
    # The URL is no pipeline parameter: nothing of it is in the compiled spec.
    assert "webhook" not in json.dumps(docs[0]["root"]).lower()
