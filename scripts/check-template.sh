#!/usr/bin/env bash
# Template checks, for the lock's template and every example template: cfn-lint, `sam validate
# --lint`, and (unless --no-build) `sam build`, which builds the arm64 release bootstraps with
# cargo-lambda (lock-fn, and counter-fn for the examples); reports lock-fn's bootstrap and zip sizes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DLM_WITH_SAM=1 bash scripts/tools.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
TEMPLATES=(template.yaml examples/template.yaml examples/cleanup/template.yaml examples/import-consumer/template.yaml)
for template in "${TEMPLATES[@]}"; do
  "$DLM_CFN_LINT" "$template"
  "$DLM_SAM" validate --lint -t "$template"
done
echo "[template] cfn-lint and sam validate --lint: clean (${TEMPLATES[*]})"
if [ "${1:-}" != "--no-build" ]; then
  if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    echo "[template] sam build needs the aarch64-unknown-linux-gnu Rust target: adding it to this rustup toolchain (rustup target add; about 200 MB)" >&2
    rustup target add aarch64-unknown-linux-gnu >&2
  fi
  echo "[template] sam build (cargo lambda build --release --arm64; a few minutes on the first run)" >&2
  started=$(date +%s)
  "$DLM_SAM" build --beta-features
  bootstrap=.aws-sam/build/LockFunction/bootstrap
  file "$bootstrap" 2>/dev/null || true
  zip_size=$(python3 -c 'import io,sys,zipfile; b=io.BytesIO(); z=zipfile.ZipFile(b,"w",zipfile.ZIP_DEFLATED); z.write(sys.argv[1],"bootstrap"); z.close(); print(len(b.getvalue()))' "$bootstrap")
  echo "[template] sam build: $(( $(date +%s) - started )) s; bootstrap $(stat -c %s "$bootstrap") bytes, zipped $zip_size bytes"
  # The examples nest the lock (built again from the same cargo target, so mostly cached) and add
  # counter-fn; the two templates without functions build too (state machines, nested cleanup).
  for template in "${TEMPLATES[@]:1}"; do
    started=$(date +%s)
    dir=$(dirname "$template")
    "$DLM_SAM" build --beta-features -t "$template" --build-dir ".aws-sam/${dir//\//-}"
    echo "[template] sam build -t $template: $(( $(date +%s) - started )) s"
  done
fi
