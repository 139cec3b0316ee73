#!/usr/bin/env bash
# Developer tool (needs kubectl; never used by the product): wraps every
# ok=yes corpus directory in 14 kinds of small overlay (prefixes, namespaces,
# labels, images, patches, generator merge/replace...) and compares
# `kubectl kustomize` with `fluxgate render`, output and failure alike.
# Usage: bench/differential.sh [corpus]   (FLUXGATE_BIN, default target/release/fluxgate;
# log in $WORK/diff.log)
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=${1:-${FLUXGATE_CORPUS:-$HERE/../shared/corpus}}
WORK=${WORK:-/tmp/render-differential}
BIN=${FLUXGATE_BIN:-$HERE/target/release/fluxgate}
[ -x "$BIN" ] || { echo "build first: cargo leptos build --release (or set FLUXGATE_BIN)"; exit 1; }
rm -rf "$WORK" && mkdir -p "$WORK/repos" && cp -r "$CORPUS"/repos/* "$WORK/repos/"
variant() {
  case $1 in
  0) printf 'namePrefix: x-\nnameSuffix: -y\n' ;;
  1) printf 'namespace: zz\n' ;;
  2) printf 'commonLabels:\n  team: t\ncommonAnnotations:\n  a: b\n' ;;
  3) printf 'labels:\n- pairs:\n    l: v\n  includeTemplates: true\nnamePrefix: p-\nnamespace: other\n' ;;
  4) printf 'images:\n- name: nginx\n  newTag: "9"\nreplicas:\n- name: frontend\n  count: 5\nnameSuffix: -s\n' ;;
  5) printf 'images:\n- name: ghcr.io/stefanprodan/podinfo\n  newName: reg.local/podinfo\n  digest: sha256:0123\n- name: busybox\n  newTag: "1.36"\n' ;;
  6) printf 'patches:\n- target:\n    kind: Deployment\n  patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: any\n      annotations:\n        patched: "yes"\n    spec:\n      revisionHistoryLimit: 3\n      template:\n        spec:\n          securityContext:\n            runAsNonRoot: true\n- target:\n    kind: Service\n  patch: |-\n    - op: add\n      path: /spec/sessionAffinity\n      value: ClientIP\n' ;;
  7) printf 'configMapGenerator:\n- name: extra\n  literals:\n  - a=1\n  - b=two words\nsecretGenerator:\n- name: creds\n  literals:\n  - user=admin\ngeneratorOptions:\n  labels:\n    gen: "yes"\nnamePrefix: g-\nnamespace: gen\n' ;;
  8) printf 'labels:\n- pairs:\n    app.kubernetes.io/managed-by: fluxgate\n  includeSelectors: true\ncommonAnnotations:\n  fluxgate.io/rev: "abc123"\nnameSuffix: -v2\n' ;;
  9) printf 'patches:\n- target:\n    kind: Deployment\n  patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: x\n    spec:\n      template:\n        spec:\n          containers:\n          - name: server\n            env:\n            - name: EXTRA\n              value: "1"\n            resources:\n              limits:\n                cpu: 100m\n          volumes:\n          - name: scratch\n            emptyDir: {}\n' ;;
  10) printf 'patches:\n- target:\n    kind: Deployment\n  patch: |-\n    - op: add\n      path: /spec/replicas\n      value: 2\n    - op: add\n      path: /metadata/labels\n      value: {x: y}\n- target:\n    kind: Service\n    name: frontend.*\n  patch: |-\n    apiVersion: v1\n    kind: Service\n    metadata:\n      name: x\n    $patch: delete\n' ;;
  11) printf 'configMapGenerator:\n- name: redis-config\n  behavior: merge\n  literals:\n  - extra=1\n  options:\n    labels:\n      merged: "true"\n' ;;
  12) printf 'configMapGenerator:\n- name: ldap-configmap\n  behavior: replace\n  literals:\n  - only=1\nnamePrefix: r-\n' ;;
  13) printf 'configMapGenerator:\n- name: demo-configmap\n  behavior: merge\n  options:\n    disableNameSuffixHash: true\n  literals:\n  - x=y\n' ;;
  esac
}
: >"$WORK/diff.log"
n=0
for d in $(awk -F'\t' '$2=="yes"{print $1}' "$CORPUS/index.tsv"); do
  repo=${d%%/*}; rel=${d#*/}
  for v in $(seq 0 13); do
    n=$((n + 1)); o=$WORK/repos/$repo/__ov$n; mkdir -p "$o"
    { printf 'resources:\n- ../%s\n' "$rel"; variant $v; } >"$o/kustomization.yaml"
    kubectl kustomize "$o" >"$o/want.yaml" 2>"$o/want.err"; wr=$?
    "$BIN" render --root "$WORK/repos/$repo" "$o" >"$o/got.yaml" 2>"$o/got.err"; gr=$?
    if [ $wr -ne 0 ] || [ $gr -ne 0 ]; then
      [ $wr -ne $gr ] && echo "RC $o v$v want=$wr got=$gr $(head -c 200 "$o/want.err") | $(head -c 200 "$o/got.err")" >>"$WORK/diff.log"
    elif ! cmp -s "$o/want.yaml" "$o/got.yaml"; then
      echo "DIFF $o v$v $d: $(diff "$o/want.yaml" "$o/got.yaml" | head -4 | tr '\n' ' ')" >>"$WORK/diff.log"
    fi
  done
done
echo "$n overlays, $(wc -l <"$WORK/diff.log") differ (see $WORK/diff.log)"
