#!/usr/bin/env bash
# Template checks: cfn-lint, `sam validate --lint`, and (unless --no-build) `sam build`, which builds
# the arm64 release bootstrap with cargo-lambda; reports the bootstrap's and its zip's sizes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DLM_WITH_SAM=1 bash scripts/tools.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
"$DLM_CFN_LINT" template.yaml
echo "[template] cfn-lint: clean"
"$DLM_SAM" validate --lint
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
fi
