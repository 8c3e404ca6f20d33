#!/usr/bin/env bash
# Build the registry's container image without any outside image registry.
#
#   deploy/container/build.sh                 # -> localhost/docker-registry:<version>
#   IMAGE=localhost/registry:test deploy/container/build.sh
#
# 1. The base: a Debian root filesystem made with mmdebstrap from the packages in
#    base-packages.txt, cached as a tarball keyed on that list (and the suite and mirrors),
#    imported as localhost/docker-registry-base:<suite>-<key>.
# 2. The wheels: this repository's distributions (DISTRIBUTIONS) built as wheels, plus
#    every dependency as a wheel, in a build context of their own.
# 3. The image: the Containerfile, FROM the base, installs the wheels with no index and no
#    network, and runs the registry as an unprivileged user.
#
# Environment (all optional):
#   IMAGE               the image to build (default localhost/docker-registry:<core version>)
#   DISTRIBUTIONS       folders of this repository to install (default below)
#   BASE_SUITE          Debian suite of the base (bookworm: Python 3.11, as the wheels)
#   DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR   where mmdebstrap downloads packages from
#   BASE_CACHE          where base tarballs are kept (default /var/tmp/docker-registry-container)
#   BASE_MAX_AGE_DAYS   a cached base older than this is made again, with the suite's
#                       security updates (default 7)
#   PYTHON              the Python whose pip downloads (or builds) the dependencies' wheels;
#                       same minor version as the base's python3 (default python3)
#   UV                  uv, which builds this repository's wheels and resolves the
#                       dependencies for the base's Python (default uv)
#   PODMAN_OPTIONS      global podman options, e.g. "--root DIR --runroot DIR"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

suite=${BASE_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
cache=${BASE_CACHE:-/var/tmp/docker-registry-container}
max_age_days=${BASE_MAX_AGE_DAYS:-7}
python=${PYTHON:-python3}
uv=${UV:-uv}
distributions=${DISTRIBUTIONS:-core drivers/file drivers/s3 drivers/gcs drivers/azure \
drivers/swift plugins/redis plugins/sqlalchemy plugins/issuer plugins/ui}
# shellcheck disable=SC2206 # word splitting of the options is the point
podman=(podman ${PODMAN_OPTIONS:-})

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/core/pyproject.toml" | head -n 1)
image=${IMAGE:-localhost/docker-registry:$version}

fail() {
  echo "deploy/container/build.sh: $*" >&2
  exit 1
}

for tool in mmdebstrap podman "$python" "$uv"; do
  command -v "$tool" >/dev/null || fail "$tool not found (mmdebstrap, podman: Debian packages; uv: pip install uv)"
done

step() {
  echo "== $* ($(date +%T))"
}

# -- 1. the base ---------------------------------------------------------------------------
packages=$(grep -v '^\s*#' "$here/base-packages.txt" | xargs)
sources=("deb $mirror $suite main" "deb $mirror $suite-updates main"
  "deb $security $suite-security main")
key=$(printf '%s\n' "$suite" "$packages" "${sources[@]}" | sha256sum | cut -c1-16)
tarball=$cache/base-$suite-$key.tar
base=localhost/docker-registry-base:$suite-$key
mkdir -p "$cache"

made_base=false
if [ ! -s "$tarball" ] || [ -n "$(find "$tarball" -mtime "+$max_age_days")" ]; then
  step "base: mmdebstrap $suite ($packages) -> $tarball"
  partial=$(mktemp "$cache/.base-XXXXXX.tar")
  trap 'rm -f "$partial"' EXIT
  # NOTE: documentation and translations are left out (path-exclude) except the
  # copyright files, which the licences of the packages ask to keep.
  mmdebstrap --quiet --variant=minbase --include="${packages// /,}" \
    --aptopt='Acquire::Retries "3"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    "$suite" "$partial" "${sources[@]}"
  chmod 0644 "$partial"
  mv "$partial" "$tarball"
  trap - EXIT
  made_base=true
fi

if $made_base || ! "${podman[@]}" image exists "$base"; then
  step "base: import $tarball as $base"
  "${podman[@]}" import --quiet "$tarball" "$base" >/dev/null
fi

# -- 2. the wheels -------------------------------------------------------------------------
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
mkdir "$context/wheels"
step "wheels: $distributions"
names=()
for folder in $distributions; do
  [ -f "$root/$folder/pyproject.toml" ] || fail "DISTRIBUTIONS: no $folder/pyproject.toml"
  names+=("$(sed -n 's/^name = "\(.*\)"$/\1/p' "$root/$folder/pyproject.toml" | head -n 1)")
  "$uv" build --quiet --wheel --out-dir "$context/wheels" "$root/$folder"
done
# NOTE: dependencies are resolved for the base's Python, not this one: markers such as
# python_full_version < "3.11.3" (redis) differ between two 3.11 releases.
python_version=$(tar -xOf "$tarball" ./var/lib/dpkg/status |
  sed -n '/^Package: python3\.[0-9]*-minimal$/,/^$/s/^Version: \([0-9.]*\).*/\1/p' | head -n 1)
[ -n "$python_version" ] || fail "no python3.X-minimal package in $tarball"
step "dependencies: resolved for Python $python_version"
for wheel in "$context"/wheels/*.whl; do
  echo "$(basename "$wheel" | cut -d- -f1 | tr _ -) @ file://$wheel"
done >"$context/requirements.in"
"$uv" pip compile --quiet --no-header --no-annotate --python-version "$python_version" \
  --python-platform "$(uname -m)-unknown-linux-gnu" \
  --output-file "$context/requirements.txt" "$context/requirements.in"
# NOTE: this repository's own wheels are already there; the rest come from the index.
grep -v ' @ file://' "$context/requirements.txt" >"$context/dependencies.txt"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$context/wheels" \
  --requirement "$context/dependencies.txt"
cp "$here/healthcheck.py" "$context/"

# -- 3. the image --------------------------------------------------------------------------
step "image: $image from $base"
# NOTE: --format docker: the OCI image format has no HEALTHCHECK (buildah drops it);
# --isolation chroot: RUN steps need no OCI runtime and no cgroups.
"${podman[@]}" build --quiet --format docker --isolation chroot \
  --file "$here/Containerfile" \
  --build-arg "BASE=$base" \
  --build-arg "VERSION=$version" \
  --build-arg "DISTRIBUTIONS=${names[*]}" \
  --tag "$image" "$context" >/dev/null
step "built $image"
