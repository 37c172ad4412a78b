"""The operator's JSON client against the real API server: codes become ApiError."""

from __future__ import annotations

import pytest

from mlops_operator.kube.client import PROXY_VARIABLES, ApiError, Kube
from mlops_operator.kube.resources import Resource
from mlops_operator.observability.metrics import API_REQUESTS

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")


def configmap(name: str, **data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def counted(verb: str, code: str) -> float:
    value = API_REQUESTS.labels(verb, "configmaps", code)._value.get()
    return float(value)


async def test_create_get_patch_delete_and_their_errors(kubeconfig: str, namespace: str) -> None:
    kube = await Kube.connect(kubeconfig)
    try:
        created = await kube.create(CONFIGMAPS, namespace, configmap("one", a="1"))
        assert created["metadata"]["uid"]

        conflicts = counted("create", "409")
        with pytest.raises(ApiError) as again:
            await kube.create(CONFIGMAPS, namespace, configmap("one"))
        assert again.value.conflict
        assert again.value.reason == "AlreadyExists"
        assert counted("create", "409") == conflicts + 1

        with pytest.raises(ApiError) as invalid:
            await kube.create(CONFIGMAPS, namespace, configmap("Not_A_Name"))
        assert invalid.value.invalid
        assert "metadata.name" in invalid.value.message

        patched = await kube.patch(CONFIGMAPS, namespace, "one", {"data": {"b": "2"}})
        assert patched["data"] == {"a": "1", "b": "2"}
        assert (await kube.get(CONFIGMAPS, namespace, "one"))["data"]["b"] == "2"

        with pytest.raises(ApiError) as stale:  # a uid precondition never deletes a newer one
            await kube.delete(CONFIGMAPS, namespace, "one", uid="00000000-0000-0000-0000-0")
        assert stale.value.conflict
        await kube.delete(CONFIGMAPS, namespace, "one", uid=created["metadata"]["uid"])
        with pytest.raises(ApiError) as gone:
            await kube.get(CONFIGMAPS, namespace, "one")
        assert gone.value.not_found
    finally:
        await kube.close()


async def test_a_merge_patch_with_a_stale_resource_version_is_a_conflict(
    kubeconfig: str, namespace: str
) -> None:
    kube = await Kube.connect(kubeconfig)
    try:
        created = await kube.create(CONFIGMAPS, namespace, configmap("rv", a="1"))
        version = created["metadata"]["resourceVersion"]
        await kube.patch(CONFIGMAPS, namespace, "rv", {"data": {"a": "2"}})  # someone else
        with pytest.raises(ApiError) as stale:
            await kube.patch(
                CONFIGMAPS,
                namespace,
                "rv",
                {"metadata": {"resourceVersion": version}, "data": {"a": None, "b": "3"}},
            )
        assert stale.value.conflict
        fresh = await kube.get(CONFIGMAPS, namespace, "rv")
        patched = await kube.patch(
            CONFIGMAPS,
            namespace,
            "rv",
            {
                "metadata": {"resourceVersion": fresh["metadata"]["resourceVersion"]},
                "data": {"a": None, "b": "3"},
            },
        )
        assert patched["data"] == {"b": "3"}  # null removed the key
    finally:
        await kube.close()


async def test_every_request_has_a_timeout(kubeconfig: str) -> None:
    kube = await Kube.connect(kubeconfig, request_timeout=0.001)
    try:
        with pytest.raises(TimeoutError):
            await kube.get(CONFIGMAPS, "default", "anything")
    finally:
        await kube.close()


async def test_without_a_proxy_the_session_skips_netrc_and_proxy_lookups(
    kubeconfig: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(variable.upper(), raising=False)
    kube = await Kube.connect(kubeconfig)
    try:
        # The public view of what connect() switched off: no netrc read in a thread, no
        # proxy variables parsed, per request.
        assert kube._api.rest_client.pool_manager.trust_env is False
        await kube.create(CONFIGMAPS, namespace, configmap("labelled"))
        listed = await kube.request(
            "list",
            CONFIGMAPS,
            CONFIGMAPS.path(namespace),
            query=[("fieldSelector", "metadata.name=labelled"), ("limit", "5")],
        )
        assert [item["metadata"]["name"] for item in listed["items"]] == ["labelled"]
    finally:
        await kube.close()


async def test_with_a_proxy_in_the_environment_the_session_still_honours_it(
    kubeconfig: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "*")  # honoured, and keeps this test's requests direct
    kube = await Kube.connect(kubeconfig)
    try:
        assert kube._api.rest_client.pool_manager.trust_env is True
    finally:
        await kube.close()
