#!/usr/bin/env bash
# Fails if the pure core (switchboard-core) pulls an I/O runtime, an async executor or TLS
# into its normal dependency tree. The core takes bytes and `now` as arguments; sockets,
# timers and TLS belong to the adapters.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(tokio|tokio-[a-z-]+|smol|async-[a-z-]+|mio|futures|futures-[a-z-]+|rustls|rustls-[a-z-]+|ring|aws-lc-rs|polling)$'
tree=$(cargo tree -p switchboard-core -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
bad=$(printf '%s\n' "$tree" | grep -E "$forbidden" || true)
if [ -n "$bad" ]; then
    echo "switchboard-core must not depend on runtime or TLS crates; found:" >&2
    printf '  %s\n' $bad >&2
    exit 1
fi
echo "core dependency check: $(printf '%s\n' "$tree" | wc -l) crates, none of them a runtime, executor or TLS stack"
