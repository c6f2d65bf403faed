#!/usr/bin/env bash
# Debian packages the embedded data and the offline renderer read from disk, and the browser the
# report-layout test lays a report out in.
# Idempotent: installs only what is missing (apt-get update first, as the machine starts bare).
set -euo pipefail
PACKAGES=(
  dataset-fashion-mnist                      # fashion-lt: /usr/share/datasets/fashion-mnist
  fonts-noto-color-emoji fonts-symbola       # emoji glyphs (colour, outline)
  ruby-gemojione libjs-emojify               # emoji PNGs (EmojiOne, emojify)
  fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-urw-base35 fonts-open-sans
  fonts-lato fonts-texgyre fonts-cmu fonts-comic-neue fonts-humor-sans fonts-go fonts-hack
  fonts-cantarell fonts-linuxlibertine fonts-stix fonts-ebgaramond
  fonts-dkg-handwriting fonts-breip fonts-dancingscript fonts-ecolier-court fonts-femkeklaver
  unicode-cldr-core                          # CLDR emoji keywords: `plan --suggest` searches them
  chromium                                   # tests/test_report_layout.py: the report at 1,280 px
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"; exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "system packages: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
