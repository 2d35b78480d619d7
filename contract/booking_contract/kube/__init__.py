"""The one Kubernetes REST client of the platform, with one error model.

``KubeClient`` (``client``) does get/list/create/merge-patch/delete and watches over a
transport (``transport``): in a pod the service account, read directly with aiohttp; elsewhere a
kubeconfig, read by kubernetes_asyncio (``kubeconfig``, the ``kube`` extra, imported only
then). Failures are the ``errors`` classes. The bot image uses it without kubernetes_asyncio.
"""

from booking_contract.kube.client import (
    BOOKINGTENANTS,
    CONFIGMAPS,
    DEPLOYMENTS,
    MERGE_PATCH,
    PODS,
    SECRETS,
    KubeClient,
    Resource,
    WatchEvent,
)
from booking_contract.kube.errors import (
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeGone,
    KubeInvalid,
    KubeNotFound,
    KubeUnavailable,
    error_for,
)
from booking_contract.kube.kubeconfig import api_client, check_access
from booking_contract.kube.transport import HttpTransport, Transport, in_cluster

__all__ = [
    "BOOKINGTENANTS",
    "CONFIGMAPS",
    "DEPLOYMENTS",
    "MERGE_PATCH",
    "PODS",
    "SECRETS",
    "HttpTransport",
    "KubeClient",
    "KubeConflict",
    "KubeError",
    "KubeForbidden",
    "KubeGone",
    "KubeInvalid",
    "KubeNotFound",
    "KubeUnavailable",
    "Resource",
    "Transport",
    "WatchEvent",
    "api_client",
    "check_access",
    "error_for",
    "in_cluster",
]
