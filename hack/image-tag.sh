#!/usr/bin/env bash
# Prints an image tag derived from what the image is built from: every file the Dockerfile's
# COPY lines take from the build context (as git knows or would add it), the Dockerfile itself,
# and any extra words such as the base image's id. A changed source gets a new tag - and the
# Deployments naming it roll - while an unchanged one keeps its tag (a change elsewhere in the
# repository, e.g. under tests/, changes nothing).   Usage: hack/image-tag.sh DOCKERFILE CONTEXT [EXTRA...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: hack/image-tag.sh DOCKERFILE CONTEXT [EXTRA...]" >&2; exit 2; }
dockerfile="$1" context="$2"
shift 2
sources=()
while read -r src; do
  sources+=("$context/$src")
done < <(awk 'toupper($1) == "COPY" && $2 !~ /^--from/ { for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }' "$dockerfile")
[ ${#sources[@]} -gt 0 ] || sources=("$context")
{
  git ls-files -co --exclude-standard -- "${sources[@]}" \
    | grep -vE '(^|/)(\.venv|__pycache__|\.mypy_cache|\.ruff_cache|\.pytest_cache|[^/]*\.egg-info)/' | sort -u \
    | while read -r f; do [ ! -f "$f" ] || sha256sum "$f"; done
  sha256sum "$dockerfile"
  printf '%s\n' "$@"
} | sha256sum | cut -c1-12
