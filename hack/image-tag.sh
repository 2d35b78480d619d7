#!/usr/bin/env bash
# Prints an image tag derived from what the image is built from (every file of the build context
# git knows or would add, the Dockerfile, and any extra words such as the base image's id), so a
# changed source gets a new tag - and the Deployments naming it roll - while an unchanged one
# keeps its tag.   Usage: hack/image-tag.sh DOCKERFILE CONTEXT [EXTRA...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: hack/image-tag.sh DOCKERFILE CONTEXT [EXTRA...]" >&2; exit 2; }
dockerfile="$1" context="$2"
shift 2
{
  git ls-files -co --exclude-standard -- "$context" \
    | grep -vE '(^|/)(\.venv|__pycache__|\.mypy_cache|\.ruff_cache|\.pytest_cache)/' | sort \
    | while read -r f; do [ ! -f "$f" ] || sha256sum "$f"; done
  sha256sum "$dockerfile"
  printf '%s\n' "$@"
} | sha256sum | cut -c1-12
