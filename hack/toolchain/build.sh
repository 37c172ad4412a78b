#!/usr/bin/env bash
# Build the local cluster's binaries from Go modules at pinned versions, once.
#
# Each component has a wrapper module beside this script (go.mod + go.sum are
# committed, so builds are reproducible). Binaries land in a cache outside the
# repo, keyed by component and version, so a second run rebuilds nothing and CI
# on the same machine reuses them. Symlinks in .local/bin point at the cache.
# Manifest-only components (the Gateway API CRDs) are downloaded, not built, and
# their YAML files copied to $cache/<component>-<version>/.
#
# Usage: build.sh [component ...]   (default: all but training-operator, which only the
#        benchmark needs: `make bench` builds it)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-operator}
bin_link_dir="$repo/.local/bin"

export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

# component -> version of the module the wrapper pins (read from its go.mod).
version_of() {
  local mod=$1 component=$2
  awk -v m="$mod" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' \
    "$here/$component/go.mod"
}

# A wrapper that holds a program of its own (*.go beside go.mod) is cached also by a hash
# of its files, so an edit to the program rebuilds it; pin-only wrappers have no suffix.
source_suffix() {
  local dir=$here/$1
  compgen -G "$dir/*.go" >/dev/null || return 0
  echo "-src$(cat "$dir/go.mod" "$dir/go.sum" "$dir"/*.go | sha256sum | cut -c1-12)"
}

# build COMPONENT MODULE LDFLAGS NAME=PKG... : go build every PKG into the cache as NAME.
build() {
  local component=$1 module=$2 ldflags=$3; shift 3
  local version; version=$(version_of "$module" "$component")
  [ -n "$version" ] || { echo "build.sh: no version for $module in $component/go.mod" >&2; exit 1; }
  version+=$(source_suffix "$component")
  local out="$cache/bin/$component-$version" built=0 start=$SECONDS
  mkdir -p "$out" "$bin_link_dir"
  for entry in "$@"; do
    local name=${entry%%=*} pkg=${entry#*=}
    if [ ! -x "$out/$name" ]; then
      echo "toolchain: building $name ($component $version) ..."
      # Build to a temporary name and rename, so an interrupted build never looks cached.
      (cd "$here/$component" && go build -trimpath -ldflags "$ldflags" -o "$out/$name.partial" "$pkg")
      mv "$out/$name.partial" "$out/$name"
      built=1
    fi
    ln -sfn "$out/$name" "$bin_link_dir/$name"
  done
  if [ $built = 1 ]; then
    echo "toolchain: built $component $version in $((SECONDS - start))s"
  else
    echo "toolchain: $component $version cached in $out"
  fi
}

# manifests COMPONENT MODULE SUBDIR: download MODULE (nothing is built) and copy the
# YAML files in its SUBDIR to $cache/COMPONENT-VERSION/ (localcluster reads them there).
manifests() {
  local component=$1 module=$2 subdir=$3
  local version; version=$(version_of "$module" "$component")
  [ -n "$version" ] || { echo "build.sh: no version for $module in $component/go.mod" >&2; exit 1; }
  local out="$cache/$component-$version" start=$SECONDS
  if [ -d "$out" ]; then
    echo "toolchain: $component $version cached in $out"
    return
  fi
  echo "toolchain: downloading $module $version ..."
  local dir
  dir=$(cd "$here/$component" && go mod download -json "$module" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  [ -n "$dir" ] && [ -d "$dir/$subdir" ] || { echo "build.sh: no $subdir in $module $version" >&2; exit 1; }
  # Copy to a temporary name and rename, so an interrupted copy never looks cached.
  rm -rf "$out.partial"
  mkdir -p "$out.partial"
  cp "$dir/$subdir"/*.yaml "$out.partial/"
  chmod u+w "$out.partial"/*.yaml  # the module cache is read-only
  mv -T "$out.partial" "$out" 2>/dev/null || rm -rf "$out.partial"  # lost a race: same files
  echo "toolchain: fetched $component $version in $((SECONDS - start))s"
}

# script VERSION: copy kubeconform's scripts/openapi2jsonschema.py (VERSION) from the module
# cache into $cache/bin/kubeconform-VERSION/, once.
script() {
  local out="$cache/bin/kubeconform-$1"
  [ -f "$out/openapi2jsonschema.py" ] && return
  local dir
  dir=$(cd "$here/kubeconform" && go mod download -json github.com/yannh/kubeconform |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  [ -n "$dir" ] && [ -f "$dir/scripts/openapi2jsonschema.py" ] ||
    { echo "build.sh: no scripts/openapi2jsonschema.py in kubeconform $1" >&2; exit 1; }
  install -m 0644 "$dir/scripts/openapi2jsonschema.py" "$out/openapi2jsonschema.py.partial"
  mv "$out/openapi2jsonschema.py.partial" "$out/openapi2jsonschema.py"
}

kube_ldflags() {
  local v; v=$(version_of k8s.io/kubernetes kubernetes)
  local major=${v#v}; major=${major%%.*}
  local minor=${v#v*.}; minor=${minor%%.*}
  local flags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    flags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

build_component() {
  case $1 in
    kubernetes)
      build kubernetes k8s.io/kubernetes "$(kube_ldflags)" \
        kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
        kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
        kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
        kubectl=k8s.io/kubernetes/cmd/kubectl ;;
    etcd)
      build etcd go.etcd.io/etcd/server/v3 "-s -w" etcd=go.etcd.io/etcd/server/v3 ;;
    kwok)
      build kwok sigs.k8s.io/kwok "-s -w" kwok=sigs.k8s.io/kwok/cmd/kwok ;;
    helm)
      local v; v=$(version_of helm.sh/helm/v3 helm)
      build helm helm.sh/helm/v3 "-s -w -X helm.sh/helm/v3/internal/version.version=$v" \
        helm=helm.sh/helm/v3/cmd/helm ;;
    gateway-api)
      manifests gateway-api sigs.k8s.io/gateway-api config/crd/standard ;;
    gopher-lua)
      # Argo CD's Lua VM, and our runner of its health scripts' test cases (deploy/argocd/).
      build gopher-lua github.com/yuin/gopher-lua "-s -w" \
        argocd-lua-health=mlops-operator/hack/toolchain/gopher-lua ;;
    kube-score)
      local v; v=$(version_of github.com/zegl/kube-score kube-score)
      build kube-score github.com/zegl/kube-score "-s -w -X main.version=$v" \
        kube-score=github.com/zegl/kube-score/cmd/kube-score ;;
    kubeconform)
      local v; v=$(version_of github.com/yannh/kubeconform kubeconform)
      build kubeconform github.com/yannh/kubeconform "-s -w -X main.version=$v" \
        kubeconform=github.com/yannh/kubeconform/cmd/kubeconform
      # The script kubeconform ships to turn CRDs into its JSON schemas (hack/checks runs it
      # over our CRDs), copied from the module beside the binary.
      script "$v" ;;
    kueue)
      local v; v=$(version_of sigs.k8s.io/kueue kueue)
      build kueue sigs.k8s.io/kueue "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$v" \
        kueue=sigs.k8s.io/kueue/cmd/kueue
      # Its CRDs ship in the module: localcluster applies them before starting Kueue.
      manifests kueue sigs.k8s.io/kueue config/components/crd/bases ;;
    prometheus)
      # remove_all_sd drops the cloud service discoveries (file and HTTP SD stay), about
      # a third of the build. The module's v0.3XY.Z is Prometheus 3.XY.Z.
      local v; v=$(version_of github.com/prometheus/prometheus prometheus)
      local minor=${v#v0.}; minor=${minor%%.*}
      local p=github.com/prometheus/common/version
      GOFLAGS="$GOFLAGS -tags=remove_all_sd" build prometheus github.com/prometheus/prometheus \
        "-s -w -X $p.Version=$((minor / 100)).$((minor % 100)).${v##*.} -X $p.Revision=$v \
         -X $p.Branch=HEAD -X $p.BuildUser=mlops-operator -X $p.BuildDate=19700101-00:00:00" \
        prometheus=github.com/prometheus/prometheus/cmd/prometheus \
        promtool=github.com/prometheus/prometheus/cmd/promtool ;;
    training-operator)
      # Kubeflow's training operator v1: the peer the TrainingJob benchmark runs beside us.
      # Its PyTorchJob CRD ships in the module; the bench cluster applies it from the cache.
      build training-operator github.com/kubeflow/training-operator "-s -w" \
        training-operator=github.com/kubeflow/training-operator/cmd/training-operator.v1
      manifests training-operator github.com/kubeflow/training-operator manifests/base/crds ;;
    *) echo "build.sh: unknown component $1" >&2; exit 2 ;;
  esac
}

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(gateway-api gopher-lua etcd kwok helm kubernetes kube-score kubeconform prometheus kueue)
for c in "${components[@]}"; do build_component "$c"; done
