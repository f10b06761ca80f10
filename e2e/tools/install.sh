#!/usr/bin/env bash
# Installs every tool the tests and the demo need, built from the registries this project may use,
# into a cache outside the checkout keyed by name and version. A warm run only checks that the
# binaries exist. Prints the bin directories to add to PATH on its last line of stdout when asked
# with --print-path.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

CACHE=${BLOBSTASH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/blobstash}
TOOLS="$CACHE/tools"
mkdir -p "$TOOLS"
export GOFLAGS=${GOFLAGS:--mod=mod}
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

# A directory name carries a recipe revision where the recipe changed what it builds.
kube_dir="$TOOLS/kubernetes-$KUBERNETES_VERSION-nodes"
etcd_dir="$TOOLS/etcd-$ETCD_VERSION"
restic_dir="$TOOLS/restic-$RESTIC_VERSION-static"
helm_dir="$TOOLS/helm-$HELM_VERSION"
node_dir="$TOOLS/node-$NODE_VERSION"
kind_dir="$TOOLS/kind-$KIND_VERSION"
containerd_dir="$TOOLS/containerd-$CONTAINERD_VERSION"
runc_dir="$TOOLS/runc-$RUNC_VERSION"
cni_dir="$TOOLS/cni-plugins-$CNI_PLUGINS_VERSION"

path_line() {
  echo "$node_dir/bin:$kube_dir/bin:$etcd_dir/bin:$restic_dir/bin:$helm_dir/bin:$containerd_dir/bin:$runc_dir/bin:$cni_dir/bin:$kind_dir/bin"
}
if [ "${1:-}" = "--print-path" ]; then path_line; exit 0; fi

log() { printf '[tools] %s\n' "$*" >&2; }

# A tool directory is only complete once its `.done` marker exists, so an interrupted build is redone.
done_or_build() {
  local dir=$1 name=$2; shift 2
  if [ -f "$dir/.done" ]; then log "$name: cached in $dir"; return 0; fi
  log "$name: building into $dir"
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp/bin"
  local start=$SECONDS
  "$@" "$dir.tmp"
  touch "$dir.tmp/.done"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  log "$name: done in $((SECONDS - start)) s"
}

# k8s.io/kubernetes cannot be `go install`ed: its go.mod points the staging modules at local paths.
# A throwaway module that requires it and maps each staging module to its published v0.X.Y builds it.
build_kubernetes() {
  local out=$1 work staging minor gomod
  work=$(mktemp -d)
  staging="v0.${KUBERNETES_VERSION#v1.}"
  minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  # The go command fetches the module (its source is needed for the build anyway) and says where
  # its go.mod lies, so no registry is named here.
  gomod=$(cd "$work" && "$GO" mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",*$/\1/p')
  {
    echo "module blobstash.local/kubebuild"
    echo "go 1.26.0"
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" \
      | while read -r m; do echo "  $m => $m $staging"; done
    echo ")"
  } > "$work/go.mod"
  {
    printf 'package tools\nimport (\n'
    for cmd in $KUBE_CMDS; do printf ' _ "k8s.io/kubernetes/cmd/%s/app"\n' "$cmd"; done
    printf ' _ "k8s.io/kubectl/pkg/cmd"\n)\n'
  } > "$work/tools.go"
  (cd "$work" && log "kubernetes: resolving modules" && "$GO" mod tidy >&2)
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  local i=0 n
  n=$(echo $KUBE_CMDS kubectl | wc -w)
  for cmd in $KUBE_CMDS kubectl; do
    i=$((i + 1))
    log "kubernetes: compiling $cmd ($i of $n; a cold build takes several minutes each on two cores)"
    (cd "$work" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$ld" -o "$out/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd" >&2)
  done
  # The sandbox (pause) image's program is C in the same module; built static so the image needs no libc.
  log "kubernetes: compiling pause"
  local src
  src=$(cd "$work" && "$GO" list -m -f '{{.Dir}}' k8s.io/kubernetes)
  gcc -Os -static -DVERSION="$KUBERNETES_VERSION" -o "$out/bin/pause" "$src/build/pause/linux/pause.c"
  strip "$out/bin/pause"
  rm -rf "$work"
}
KUBE_CMDS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy"

# Builds one main package of a module through a throwaway module that requires it. `go install
# pkg@version` would be simpler but refuses modules with replace directives (etcd's) and asks the
# proxy's version list for deprecations, which the proxy refuses for some modules (restic's).
build_module_cmd() {
  local out=$1 module=$2 version=$3 pkg=$4 name=$5 ldflags=${6:-} tags=${7:-} work
  work=$(mktemp -d)
  printf 'module blobstash.local/build\ngo 1.24\nrequire %s %s\n' "$module" "$version" > "$work/go.mod"
  printf 'package main\nimport _ "%s"\nfunc main() {}\n' "$pkg" > "$work/tools.go"
  (cd "$work" && "$GO" mod tidy >&2 && "$GO" build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" -o "$out/bin/$name" "$pkg" >&2)
  rm -rf "$work"
}

build_etcd() { build_module_cmd "$1" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 etcd; }
# Static (no cgo), so the same binary runs on the host and in the image with no libc of its own.
build_restic() { CGO_ENABLED=0 build_module_cmd "$1" github.com/restic/restic "$RESTIC_VERSION" github.com/restic/restic/cmd/restic restic; }

# What a node runs: containerd with its runc shim and ctr (no cgo, as the trial on these machines
# did), runc with seccomp (cgo, Debian's libseccomp-dev), and the CNI plugins the pod network uses.
build_containerd() {
  local c
  for c in containerd containerd-shim-runc-v2 ctr; do
    CGO_ENABLED=0 build_module_cmd "$1" github.com/containerd/containerd/v2 "$CONTAINERD_VERSION" \
      "github.com/containerd/containerd/v2/cmd/$c" "$c" "-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
  done
}
build_runc() {
  CGO_ENABLED=1 build_module_cmd "$1" github.com/opencontainers/runc "$RUNC_VERSION" github.com/opencontainers/runc runc \
    "-X main.version=${RUNC_VERSION#v}" seccomp
}
build_cni() {
  local p
  for p in main/bridge main/loopback ipam/host-local; do
    CGO_ENABLED=0 build_module_cmd "$1" github.com/containernetworking/plugins "$CNI_PLUGINS_VERSION" \
      "github.com/containernetworking/plugins/plugins/$p" "${p#*/}"
  done
}

# Debian's packages the nodes need: nft for kube-proxy's nftables mode, libseccomp for runc,
# static busybox for the toolbox image. Installed only where missing.
install_packages() {
  local missing=()
  # By package, not by PATH: a user's PATH may lack /usr/sbin.
  dpkg -s nftables >/dev/null 2>&1 || missing+=(nftables)
  [ -e /usr/include/seccomp.h ] || missing+=(libseccomp-dev)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
  [ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
  if [ ${#missing[@]} -gt 0 ]; then
    log "packages: installing ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}
build_helm() {
  build_module_cmd "$1" helm.sh/helm/v3 "$HELM_VERSION" helm.sh/helm/v3/cmd/helm helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
}

# kind has no replace directives, so plain `go install` works. Only `make e2e-kind` asks for it.
build_kind() { GOBIN="$1/bin" "$GO" install "sigs.k8s.io/kind@$KIND_VERSION" >&2; }

# Node 24 comes from the npm registry's platform package, which ships the official binary.
build_node() {
  local out=$1 work arch
  work=$(mktemp -d)
  case "$(uname -m)" in x86_64) arch=x64;; aarch64) arch=arm64;; *) arch=$(uname -m);; esac
  (cd "$work" && npm pack --silent "node-linux-$arch@$NODE_VERSION" >/dev/null && tar xzf ./*.tgz)
  cp "$work/package/bin/node" "$out/bin/node"
  # npm and npx are scripts; keep using the system's npm, run by this node.
  rm -rf "$work"
}

which_tools=${TOOLS_ONLY:-packages node restic helm etcd runc cni containerd kubernetes}
for t in $which_tools; do
  case $t in
    packages) install_packages ;;
    containerd) done_or_build "$containerd_dir" "containerd $CONTAINERD_VERSION" build_containerd ;;
    runc) done_or_build "$runc_dir" "runc $RUNC_VERSION" build_runc ;;
    cni) done_or_build "$cni_dir" "CNI plugins $CNI_PLUGINS_VERSION" build_cni ;;
    node) done_or_build "$node_dir" "node $NODE_VERSION" build_node ;;
    restic) done_or_build "$restic_dir" "restic $RESTIC_VERSION" build_restic ;;
    helm) done_or_build "$helm_dir" "helm $HELM_VERSION" build_helm ;;
    etcd) done_or_build "$etcd_dir" "etcd $ETCD_VERSION" build_etcd ;;
    kubernetes) done_or_build "$kube_dir" "kubernetes $KUBERNETES_VERSION" build_kubernetes ;;
    kind) done_or_build "$kind_dir" "kind $KIND_VERSION" build_kind ;;
  esac
done
log "all tools ready; PATH prefix: $(path_line)"
