"""The shard pod under the platform's policies: Pod Security ``restricted``, and the chart's
NetworkPolicies (what it may reach, and what reaches it).

The real tier has no policy-enforcing CNI (docs/deploy.md), so the policies are evaluated here,
with Kubernetes' rules for the peers the chart uses (podSelector/namespaceSelector matchLabels,
ipBlock with except; a policy selecting a pod denies what no rule allows), against the labels
of the pod the operator creates (``shard_manifests.deployment``), not a copy of them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr

from booking_operator import shard_manifests
from booking_operator.config import OperatorSettings
from chart.conftest import NAMESPACE, Helm, Manifest, by_kind
from harness.pod_security import restricted_violations

CLUSTER_IP = "10.244.0.23"  # some pod of the cluster
METADATA = "169.254.169.254"
TELEGRAM = "149.154.167.220"


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str]
    ip: str = CLUSTER_IP


def _shard_deployment() -> Manifest:
    settings = OperatorSettings(
        operator_database_url=SecretStr("postgresql://op:pw@db:5432/booking"),
        operator_redis_url=SecretStr("redis://:pw@redis:6379/0"),
        bot_image="booking-bot:1",
    )
    return shard_manifests.deployment(settings, "booking-shard-0", NAMESPACE)


def _shard_pod() -> Pod:
    return Pod(NAMESPACE, dict(_shard_deployment()["spec"]["template"]["metadata"]["labels"]))


def test_the_shard_pod_passes_pod_security_restricted() -> None:
    """Offline; on the real tier the namespace enforces it (tests/e2e/test_shared_runtime.py)."""
    assert restricted_violations(_shard_deployment()) == []


def _matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    assert not (selector or {}).get("matchExpressions"), "extend the evaluator for matchExpressions"
    return all(labels.get(k) == v for k, v in ((selector or {}).get("matchLabels") or {}).items())


def _ns_labels(namespace: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": namespace}


def _peer_allows(peer: dict[str, Any], policy_ns: str, other: Pod | str) -> bool:
    if "ipBlock" in peer:
        if isinstance(other, Pod):
            return False  # the chart's ipBlocks are for destinations outside the cluster
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other)
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(address in ipaddress.ip_network(e) for e in block.get("except", []))
    if not isinstance(other, Pod):
        return False
    if "namespaceSelector" in peer:
        if not _matches(peer["namespaceSelector"], _ns_labels(other.namespace)):
            return False
    elif other.namespace != policy_ns:
        return False
    return "podSelector" not in peer or _matches(peer["podSelector"], other.labels)


def _rule_allows(rule: dict[str, Any], policy_ns: str, other: Pod | str, port: int) -> bool:
    ports = rule.get("ports")
    if ports is not None and not any(p.get("port") == port for p in ports):
        return False
    peers = rule.get("to", rule.get("from"))
    return peers is None or any(_peer_allows(peer, policy_ns, other) for peer in peers)


def _selecting(policies: list[Manifest], pod: Pod, direction: str) -> list[Manifest]:
    return [
        p
        for p in policies
        if p["metadata"].get("namespace", NAMESPACE) == pod.namespace
        and _matches(p["spec"]["podSelector"], pod.labels)
        and direction in p["spec"]["policyTypes"]
    ]


def allowed(policies: list[Manifest], pod: Pod, direction: str, other: Pod | str, port: int) -> bool:
    """``direction`` "Egress": may ``pod`` open a connection to ``other``; "Ingress": from it."""
    selecting = _selecting(policies, pod, direction)
    if not selecting:
        return True
    return any(
        _rule_allows(rule, p["metadata"].get("namespace", NAMESPACE), other, port)
        for p in selecting
        for rule in p["spec"].get(direction.lower()) or []
    )


def egress_allowed(policies: list[Manifest], pod: Pod, to: Pod | str, port: int) -> bool:
    return allowed(policies, pod, "Egress", to, port)


def ingress_allowed(policies: list[Manifest], pod: Pod, source: Pod, port: int) -> bool:
    return allowed(policies, pod, "Ingress", source, port)


@pytest.fixture(scope="module")
def policies(helm: Helm) -> list[Manifest]:
    return by_kind(helm.render({}), "NetworkPolicy")


@pytest.fixture(scope="module")
def store_pods(helm: Helm) -> dict[str, Pod]:
    """The chart's PostgreSQL and Redis pods, with their template labels."""
    rendered = helm.render({})
    return {
        s["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: Pod(
            NAMESPACE, dict(s["spec"]["template"]["metadata"]["labels"]), "10.244.0.5"
        )
        for s in by_kind(rendered, "StatefulSet")
    }


def test_a_shard_is_under_a_policy_that_accepts_no_connections(policies: list[Manifest]) -> None:
    shard = _shard_pod()
    (own,) = _selecting(policies, shard, "Ingress")
    assert own["metadata"]["name"].endswith("-shards")
    anyone = Pod(NAMESPACE, {"app": "anything"})
    assert not ingress_allowed(policies, shard, anyone, 8080)


def test_a_shard_reaches_postgresql_and_redis_and_they_accept_it(
    policies: list[Manifest], store_pods: dict[str, Pod]
) -> None:
    shard = _shard_pod()
    for component, port in (("postgresql", 5432), ("redis", 6379)):
        store = store_pods[component]
        assert egress_allowed(policies, shard, store, port), component
        assert ingress_allowed(policies, store, shard, port), component


def test_a_pod_merely_named_like_a_shard_elsewhere_is_not_accepted_by_postgresql(
    policies: list[Manifest], store_pods: dict[str, Pod]
) -> None:
    impostor = Pod("other-team", _shard_pod().labels)
    assert not ingress_allowed(policies, store_pods["postgresql"], impostor, 5432)


def test_a_shard_reaches_the_api_server_dns_and_telegram(policies: list[Manifest]) -> None:
    shard = _shard_pod()
    dns = Pod("kube-system", {"k8s-app": "kube-dns"})
    assert egress_allowed(policies, shard, dns, 53)
    assert egress_allowed(policies, shard, "10.96.0.1", 443)  # the `kubernetes` Service
    assert egress_allowed(policies, shard, "192.168.1.10", 6443)  # the API server behind it
    assert egress_allowed(policies, shard, TELEGRAM, 443)


def test_a_shard_reaches_no_other_pod_nor_the_cloud_metadata(policies: list[Manifest]) -> None:
    shard = _shard_pod()
    assert not egress_allowed(policies, shard, Pod(NAMESPACE, {"app": "other"}), 8080)
    assert not egress_allowed(policies, shard, METADATA, 80)
    assert not egress_allowed(policies, shard, TELEGRAM, 80)
