"""`python -m booking_operator.platform_secrets`: create the platform's password Secrets once.

The chart used to generate the PostgreSQL and Redis passwords in the template and keep them
with `lookup`; under `helm template` and GitOps tools (Argo CD renders without a cluster)
`lookup` returns nothing, so every sync produced new passwords and the operator could no
longer log in. Now the chart renders no password at all: this runs as a Job (a Helm
pre-install/pre-upgrade hook, which Argo CD runs as a PreSync hook) and creates each missing
Secret with random values, or adds only the keys it lacks. An existing value is never changed,
so running it on every sync is safe, and the Secrets, not being part of the release, survive
`helm uninstall` with the data volumes they unlock.

    python -m booking_operator.platform_secrets --namespace NS NAME=KEY[,KEY...] [NAME=KEY...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import sys
from dataclasses import dataclass

from kubernetes_asyncio.config import ConfigException

from booking_contract import crd
from booking_contract.kube import SECRETS, KubeClient, KubeConflict, KubeError

PASSWORD_BYTES = 24  # 32 URL-safe characters
LABELS = {crd.PART_OF_LABEL: crd.PART_OF, f"{crd.GROUP}/generated": "platform-secrets"}


@dataclass(frozen=True)
class Wanted:
    name: str
    keys: tuple[str, ...]


def parse_wanted(spec: str) -> Wanted:
    name, sep, keys = spec.partition("=")
    wanted = tuple(k for k in keys.split(",") if k)
    if not sep or not name or not wanted:
        raise ValueError(f"expected NAME=KEY[,KEY...], got {spec!r}")
    return Wanted(name, wanted)


def _value() -> str:
    return base64.b64encode(secrets.token_urlsafe(PASSWORD_BYTES).encode()).decode()


async def ensure(kube: KubeClient, namespace: str, wanted: Wanted) -> list[str]:
    """Create the Secret or add its missing keys; returns the keys it generated (never values)."""
    live = await kube.get(SECRETS, namespace, wanted.name)
    present = set((live or {}).get("data") or {})
    missing = [k for k in wanted.keys if k not in present]
    if not missing:
        return []
    data = {k: _value() for k in missing}
    if live is None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": wanted.name, "labels": LABELS},
            "type": "Opaque",
            "data": data,
        }
        try:
            await kube.create(SECRETS, namespace, body)
        except KubeConflict:  # created meanwhile by a concurrent run: add what it lacks
            return await ensure(kube, namespace, wanted)
        return missing
    await kube.patch(SECRETS, namespace, wanted.name, {"data": data})
    return missing


async def run(namespace: str, wanted: list[Wanted]) -> None:
    kube = await KubeClient.connect()
    try:
        for item in wanted:
            generated = await ensure(kube, namespace, item)
            state = f"generated {', '.join(generated)}" if generated else "complete, left as it is"
            print(f"Secret {namespace}/{item.name}: {state}")  # noqa: T201 - the Job's log
    finally:
        await kube.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m booking_operator.platform_secrets")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("secrets", nargs="+", metavar="NAME=KEY[,KEY...]")
    args = parser.parse_args(argv)
    try:
        wanted = [parse_wanted(s) for s in args.secrets]
        asyncio.run(run(args.namespace, wanted))
    except (ValueError, KubeError, ConfigException) as exc:
        sys.stderr.write(f"platform-secrets: {exc}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
