"""A real Kubernetes API server for the operator's tests: the cluster of `hack/cluster.sh`.

The emulator (harness/kube.py) answers every request; a real API server answers only what RBAC
allows. Here the operator under test authenticates as the chart's own ServiceAccount, bound to
the ClusterRole the chart renders (`helm template`), so a verb missing from the chart fails a
test with a 403, and the objects it writes pass through real validation, defaulting, admission
(OwnerReferencesPermissionEnforcement, NodeRestriction, ...) and garbage collection.

The tests themselves act as the cluster admin (client certificate from the cluster's PKI).
Used when `OPERATOR_TESTS_KUBE=real` and the cluster's env file is loaded (`make e2e` does both,
before it installs the chart, so no other operator runs on the cluster meanwhile).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path

from harness.kube import KubeClient

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "booking-saas"
# The chart's operator objects, rendered for a release of the tests' own.
RELEASE = "optests"
NAMESPACE = "operator-tests"
SERVICE_ACCOUNT = f"{RELEASE}-booking-saas-operator"


def wanted() -> bool:
    return os.environ.get("OPERATOR_TESTS_KUBE") == "real"


def why_unavailable() -> str | None:
    if not os.environ.get("BOOKING_CLUSTER_STATE"):
        return "OPERATOR_TESTS_KUBE=real needs the env file of hack/cluster.sh (BOOKING_CLUSTER_STATE)"
    if shutil.which("kubectl") is None or _helm() is None:
        return "OPERATOR_TESTS_KUBE=real needs kubectl and helm on PATH (make e2e provides both)"
    return None


def _helm() -> str | None:
    local = ROOT / ".tools" / "bin" / "helm"
    return str(local) if local.exists() else shutil.which("helm")


class RealCluster:
    """The local real cluster, with the chart's CRD, operator ServiceAccount and RBAC applied."""

    emulator = None  # no request log: tests that inspect the emulator's requests stay there

    def __init__(self) -> None:
        self.state = Path(os.environ["BOOKING_CLUSTER_STATE"])
        self.url = os.environ["BOOKING_CLUSTER_API"]
        self._pki = self.state / "pki"

    def kubectl(self, *args: str, input: str | None = None) -> str:
        proc = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.state / "admin.kubeconfig"), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def start(self) -> RealCluster:
        self.kubectl("apply", "--server-side", "-f", str(CHART / "crds"))
        self.kubectl("wait", "--for=condition=Established", "crd/bookingtenants.bookingsaas.dev")
        # A new CRD's storage answers 429 "storage is (re)initializing" for a moment after it is
        # Established: wait until a list goes through.
        deadline = time.monotonic() + 60
        while True:
            try:
                self.kubectl("get", "bookingtenants.bookingsaas.dev", "--all-namespaces")
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        namespace = self.kubectl("create", "namespace", NAMESPACE, "--dry-run=client", "-o", "yaml")
        self.kubectl("apply", "-f", "-", input=namespace)
        helm = _helm()
        assert helm is not None
        rendered = subprocess.run(
            [
                helm,
                "template",
                RELEASE,
                str(CHART),
                "--namespace",
                NAMESPACE,
                # The tests make a namespace each, so the operator watches the whole cluster: the
                # chart's explicit cluster-wide choice (its default is the release namespace only).
                "--set",
                "operator.clusterWide=true",
                "--show-only",
                "templates/operator-serviceaccount.yaml",
                "--show-only",
                "templates/operator-rbac.yaml",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        self.kubectl("-n", NAMESPACE, "apply", "-f", "-", input=rendered)
        return self

    def __enter__(self) -> RealCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """The tests delete their own tenants and namespaces; the chart's RBAC stays harmless."""

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self._pki / "ca.crt"))
        context.load_cert_chain(str(self._pki / "admin.crt"), str(self._pki / "admin.key"))
        return context

    def client(self) -> KubeClient:
        return KubeClient(self.url, ssl=self.ssl_context(), emulated=False)

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig with a token of the chart's operator ServiceAccount (what the pod gets)."""
        token = self.kubectl("-n", NAMESPACE, "create", "token", SERVICE_ACCOUNT, "--duration", "2h").strip()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "real",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(
                            (self._pki / "ca.crt").read_bytes()
                        ).decode(),
                    },
                }
            ],
            "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
            "contexts": [
                {
                    "name": "real",
                    "context": {"cluster": "real", "user": SERVICE_ACCOUNT, "namespace": namespace},
                }
            ],
            "current-context": "real",
        }
        path.write_text(json.dumps(config))
        os.chmod(path, 0o600)
        return path
