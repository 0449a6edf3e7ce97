#!/usr/bin/env bash
# Runs a command with Node.js <major> first on PATH: `scripts/with-node.sh 24 npm test`.
#
# The runtime comes from the npm package `node@<major>` (a real node binary, cached by npx),
# so everything the command starts runs on it: npm, tsc, vitest, vitest's forks (they use
# process.execPath) and the server processes the tests spawn. EXPECT_NODE_MAJOR lets
# test/unit/runtime.test.ts fail if some step still ran on another Node.
set -euo pipefail
major=${1:?usage: scripts/with-node.sh <major> <command...>}
shift
node_bin=$(npx -y "node@$major" -p process.execPath)
export PATH="$(dirname "$node_bin"):$PATH"
export EXPECT_NODE_MAJOR=$major
echo "node $(node --version) from $node_bin"
exec "$@"
