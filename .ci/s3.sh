# Local S3-compatible server for the storage tests (sourced by .ci/run).
#
# s3_start installs moto's server mode from PyPI when missing, starts it on 127.0.0.1 on a
# free port, waits until it answers, creates the test bucket and exports what the tests read:
#   LOKI_TEST_S3_ENDPOINT, LOKI_TEST_S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#   AWS_REGION, AWS_DEFAULT_REGION.
# s3_stop stops the server this script started (by its pid only).
# moto keeps objects in memory; each test writes under its own random prefix.

S3_PYTHON="${S3_PYTHON:-python3}"
S3_PID=""
S3_LOG=""

# moto enforces conditional PUTs (If-None-Match: * and If-Match, getmoto/moto#8869) from
# 5.1.5 on; the compactor's lease tests need them. 5.2.1 is the version the tests were run
# with (tests/s3.rs `s3_server_enforces_conditional_writes` checks the server itself).
S3_MOTO_PIN="moto[server]==5.2.1"
S3_MOTO_MIN="5.1.5"

s3_install() {
  if "$S3_PYTHON" - "$S3_MOTO_MIN" >/dev/null 2>&1 <<'PY'
import sys
import moto, moto.server, flask, flask_cors
have = tuple(int(x) for x in moto.__version__.split(".")[:3] if x.isdigit())
want = tuple(int(x) for x in sys.argv[1].split("."))
sys.exit(0 if have >= want else 1)
PY
  then
    return 0
  fi
  echo "s3.sh: installing ${S3_MOTO_PIN} from PyPI" >&2
  # Debian's system Python refuses plain pip installs (PEP 668); retry with the override.
  "$S3_PYTHON" -m pip install --quiet --disable-pip-version-check "$S3_MOTO_PIN" \
    || "$S3_PYTHON" -m pip install --quiet --disable-pip-version-check --break-system-packages "$S3_MOTO_PIN"
}

s3_free_port() {
  "$S3_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

s3_request() { # METHOD URL -> prints HTTP status (000 when unreachable)
  "$S3_PYTHON" - "$1" "$2" <<'PY'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[2], method=sys.argv[1], data=b"" if sys.argv[1] == "PUT" else None)
try:
    with urllib.request.urlopen(req, timeout=2) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
}

s3_start() {
  s3_install
  local port endpoint status i
  port="$(s3_free_port)"
  endpoint="http://127.0.0.1:${port}"
  S3_LOG="$(mktemp "${TMPDIR:-/tmp}/moto-s3.XXXXXX.log")"
  "$S3_PYTHON" -m moto.server -H 127.0.0.1 -p "$port" >"$S3_LOG" 2>&1 &
  S3_PID=$!
  status=000
  for i in $(seq 1 100); do
    status="$(s3_request GET "${endpoint}/")"
    if [ "$status" != "000" ]; then break; fi
    if ! kill -0 "$S3_PID" 2>/dev/null; then
      echo "s3.sh: moto server exited; log follows" >&2
      cat "$S3_LOG" >&2
      return 1
    fi
    sleep 0.2
  done
  if [ "$status" = "000" ]; then
    echo "s3.sh: moto server did not answer on ${endpoint}" >&2
    cat "$S3_LOG" >&2
    s3_stop
    return 1
  fi
  export LOKI_TEST_S3_ENDPOINT="$endpoint"
  export LOKI_TEST_S3_BUCKET="loki-test"
  export AWS_ACCESS_KEY_ID="testing"
  export AWS_SECRET_ACCESS_KEY="testing"
  export AWS_REGION="us-east-1"
  export AWS_DEFAULT_REGION="us-east-1"
  status="$(s3_request PUT "${endpoint}/${LOKI_TEST_S3_BUCKET}")"
  if [ "$status" != "200" ]; then
    echo "s3.sh: creating bucket ${LOKI_TEST_S3_BUCKET} failed with HTTP ${status}" >&2
    s3_stop
    return 1
  fi
  echo "s3.sh: moto S3 on ${endpoint} (pid ${S3_PID}), bucket ${LOKI_TEST_S3_BUCKET}" >&2
}

s3_stop() {
  if [ -n "${S3_PID:-}" ]; then
    kill "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
    S3_PID=""
  fi
  if [ -n "${S3_LOG:-}" ]; then
    rm -f "$S3_LOG"
    S3_LOG=""
  fi
}
