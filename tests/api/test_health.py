"""Liveness and readiness of the gateway."""

from __future__ import annotations

from tests.api.conftest import MakeClient
from tests.api.servers import FakeRasa


def test_health_answers_ok_even_without_rasa(make_client: MakeClient, dead_rasa_url: str) -> None:
    response = make_client(rasa_url=dead_rasa_url).get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_rasa_has_a_model(make_client: MakeClient, fake_rasa: FakeRasa) -> None:
    response = make_client().get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "rasa": "ready",
        "model_file": "models/test-model.tar.gz",
    }
    assert [r.path for r in fake_rasa.received] == ["/status"]


def test_not_ready_while_rasa_has_no_model(make_client: MakeClient, fake_rasa: FakeRasa) -> None:
    fake_rasa.model_file = None
    response = make_client().get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "rasa": "no_model"}


def test_not_ready_when_rasa_is_down(make_client: MakeClient, dead_rasa_url: str) -> None:
    response = make_client(rasa_url=dead_rasa_url).get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "rasa": "unreachable"}


def test_not_ready_when_rasa_answers_an_error(make_client: MakeClient, fake_rasa: FakeRasa) -> None:
    fake_rasa.status_code = 500
    response = make_client().get("/health/ready")
    assert response.status_code == 503
    assert response.json()["rasa"] == "unreachable"
