#!/usr/bin/env bash
# Sourced by the other scripts (never run): where the project's tools live, and the PATH to them.
# Installing is tools.sh's job; this file only points at what it installed.
DLM_TOOLS="${DLM_TOOLS:-$HOME/.cache/dynamo-dlm-rs}"
export DLM_TOOLS
export DLM_DYNALITE_CLI="$DLM_TOOLS/node/node_modules/dynalite/cli.js"
export DLM_PY_TOOLS="$DLM_TOOLS/venv-tools/bin/python"
export DLM_MOTO_SERVER="$DLM_TOOLS/venv-tools/bin/moto_server"
export DLM_PY_DLM1="$DLM_TOOLS/venv-dlm1/bin/python"
export DLM_PY_DLM2="$DLM_TOOLS/venv-dlm2/bin/python"
export DLM_SAM="$DLM_TOOLS/venv-sam/bin/sam"
export DLM_PY_BENCH="$DLM_TOOLS/venv-bench/bin/python"
export DLM_CFN_LINT="$DLM_TOOLS/venv-sam/bin/cfn-lint"
case ":$PATH:" in *":$DLM_TOOLS/venv-tools/bin:"*) ;; *) export PATH="$DLM_TOOLS/venv-tools/bin:$PATH" ;; esac

# The workspace's cargo target folder (honours CARGO_TARGET_DIR and .cargo/config), for its binaries.
cargo_target_dir() {
  cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}
