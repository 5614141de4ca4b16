#!/bin/bash
# mkdeb.sh BINARY OUTDIR builds roomcast_<version>_<arch>.deb with Debian's
# own dpkg-deb: /usr/bin/roomcast, /etc/roomcast/roomcast.yaml (a conffile),
# the systemd unit, and the scripts that create the roomcast user and
# /var/lib/roomcast. It prints the package's path.
set -euo pipefail
bin=${1:?binary}
out=${2:?output directory}
here=$(cd "$(dirname "$0")" && pwd)
arch=$(dpkg --print-architecture)
# 0.1.0+git<commit time>.<commit>: grows with every commit.
version="0.1.0"
if rev=$(git -C "$here" log -1 --format=%cd.%h --date=format:%Y%m%d%H%M%S 2>/dev/null); then
	version="0.1.0+git$rev"
fi
stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
install -D -m 0755 "$bin" "$stage/usr/bin/roomcast"
install -D -m 0644 "$here/roomcast.yaml" "$stage/etc/roomcast/roomcast.yaml"
install -D -m 0644 "$here/roomcast.service" "$stage/lib/systemd/system/roomcast.service"
install -d "$stage/DEBIAN"
for s in postinst prerm postrm; do install -m 0755 "$here/$s" "$stage/DEBIAN/$s"; done
echo /etc/roomcast/roomcast.yaml > "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: roomcast
Version: $version
Architecture: $arch
Maintainer: roomcast developers <dev@roomcast.invalid>
Installed-Size: $size
Depends: chromium, ffmpeg, xvfb, pulseaudio, adduser
Section: video
Priority: optional
Homepage: https://github.com/roomcast/roomcast
Description: records and live-streams WebRTC video rooms
 One binary: the rooms' media server (SFU), a meeting app, the HTTP API and
 a bot that streams a room to RTMP(S) destinations and records it.
CONTROL
mkdir -p "$out"
deb="$out/roomcast_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
