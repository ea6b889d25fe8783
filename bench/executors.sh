#!/usr/bin/env bash
# 1,000 task executors x 60 heartbeats: ragwatch's reads and endpoints next to RAGFlow's
# own algorithm (redis-py), measured in the same run. Needs redis-server (installed by
# scripts/test-services.sh) and installs redis-py for python3 when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import redis' 2>/dev/null || python3 -m pip install --quiet redis
cargo bench --bench executors
