"""The Pod Security Standards' `restricted` profile (Kubernetes 1.30), as checks on a pod spec.

What the API server's PodSecurity admission enforces on a namespace labelled
`pod-security.kubernetes.io/enforce: restricted`; used on the chart's rendered pods and the
operator's bot Deployment, and confirmed on the real API server tier.
"""

from __future__ import annotations

from typing import Any

ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any] | None:
    if manifest["kind"] == "Pod":
        return dict(manifest["spec"])
    if manifest["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
        return dict(manifest["spec"]["template"]["spec"])
    return None


def restricted_violations(manifest: dict[str, Any]) -> list[str]:
    """Every rule of `restricted` the workload breaks (empty: it would be admitted)."""
    spec = pod_spec(manifest)
    if spec is None:
        return []
    problems: list[str] = []
    pod_ctx = spec.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            problems.append(f"{key} is set")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            problems.append(f"volume {volume['name']} is {sorted(kinds)}")
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        name = container["name"]
        ctx = container.get("securityContext") or {}

        def effective(key: str, ctx: dict[str, Any] = ctx) -> Any:
            return ctx.get(key, pod_ctx.get(key))

        if ctx.get("privileged"):
            problems.append(f"{name}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if effective("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if effective("runAsUser") == 0:
            problems.append(f"{name}: runAsUser is 0")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            problems.append(f"{name}: seccompProfile is {seccomp!r}")
        caps = ctx.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {caps.get('add')}")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems
