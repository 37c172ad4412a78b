"""Whether the API client must keep trusting the environment for a proxy."""

from __future__ import annotations

import pytest

from mlops_operator.kube.client import PROXY_VARIABLES, proxy_from_env


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(variable.upper(), raising=False)


def test_no_proxy_variable_means_no_proxy() -> None:
    assert proxy_from_env() is False


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "wss_proxy"])
def test_any_proxy_variable_in_either_case_keeps_the_environment(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "http://proxy.example:3128")
    assert proxy_from_env() is True


def test_an_empty_variable_is_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "")
    assert proxy_from_env() is False
