#!/usr/bin/env bash
# `make mutation`: mutmut over the modules that decide money and isolation (docs/testing.md).
# Not in CI: minutes per module on 2 cores.
#
# mutmut names a mutant after its file's path and must see the package at the top of its
# working copy, so each component gets a staging directory with the package, the tests and
# the root pytest settings side by side; mutmut copies that to mutants/ and runs there.
#
# mutmut forks a fresh pytest session per mutant; PostgreSQL and Redis are started once here
# (tests/harness/external.py) and the test fixtures use them instead of starting their own.
# Each test makes its own tenant (role, schema, Redis user), as on the session servers.
#
# MUTATION_RESUME=1 keeps the last run's verdicts: mutmut runs the stats of new tests and only
# the mutants named (e.g. the survivors after tests were added); the others keep their verdict.
#
# usage: hack/mutation.sh COMPONENT [MUTANT_GLOB_OR_NAME...]
#   COMPONENT  bot_image | webhook_image | operator (config: hack/mutation/COMPONENT.toml)
#   e.g. hack/mutation.sh bot_image 'booking_bot.slots*'
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
component=${1:?usage: hack/mutation.sh COMPONENT [MUTANT_GLOB...]}
shift
config=hack/mutation/$component.toml
[ -f "$config" ] || { echo "mutation: no $config" >&2; exit 2; }
package=$(basename "$(ls -d "$component"/booking_*/ | grep -v egg-info | head -1)")
stage=$root/.mutation/$component
if [ -z "${MUTATION_RESUME:-}" ]; then
  rm -rf "$stage"
fi
mkdir -p "$stage"
rm -rf "${stage:?}/$package"
cp -r "$root/$component/$package" "$stage/$package"  # mutmut does not follow a symlinked package
ln -sfn "$root/tests" "$stage/tests"
ln -sfn "$root/crds" "$stage/crds"  # tests/harness/crd_schema.py reads the CRD beside tests/
ln -sfn "$root/docs" "$stage/docs"  # tests that run the queries docs/*.md give (test_ledger.py)
cat pyproject.toml "$config" > "$stage/pyproject.toml"
servers=$root/.mutation/servers-$component
PYTHONPATH=$root/tests "$root/.venv/bin/python" -m harness.external start "$servers" > "$stage/servers.env"
trap 'PYTHONPATH=$root/tests "$root/.venv/bin/python" -m harness.external stop "$servers"' EXIT
# shellcheck disable=SC1091
. "$stage/servers.env"
cd "$stage"
nice -n "${MUTATION_NICE:-10}" "$root/.venv/bin/mutmut" run "$@"
"$root/.venv/bin/python" "$root/hack/mutation_report.py" | tee report.md
echo "report: $stage/report.md; one survivor: (cd $stage && $root/.venv/bin/mutmut show NAME)"
