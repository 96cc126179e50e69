#!/usr/bin/env bash
# The labelled photo set the README's photo figures come from: Imagenette (fastai's ten easy ImageNet
# classes; 9,469 training and 3,925 validation photos, here as 224 × 224 JPEGs) from the public
# repository github.com/thunderInfy/imagenette, laid out as simclr and torchvision's ImageFolder
# read it: <dest>/train/<class>/*.JPEG and <dest>/val/<class>/*.JPEG. Nothing of it enters this
# repository (the destination default, data/, is ignored by git).
#   scripts/imagenette.sh [dest] [source]
# source: the repository's URL (default), or a clone of it already on this machine (a folder with a
# .git, or a bare git directory): what the photos are read from, by `git archive` of its HEAD.
set -euo pipefail
dest=${1:-data/imagenette}
source=${2:-https://github.com/thunderInfy/imagenette.git}
if [ -d "$dest/train" ] && [ -d "$dest/val" ]; then
  echo "imagenette.sh: $dest already holds train/ and val/" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -d "$source" ]; then
  gitdir=$source
  [ -d "$source/.git" ] && gitdir=$source/.git
else
  git clone --quiet --bare --depth 1 "$source" "$tmp/repo.git"
  gitdir=$tmp/repo.git
fi
mkdir -p "$tmp/out"
git --git-dir="$gitdir" archive HEAD train val | tar -x -C "$tmp/out"
for split in train val; do
  classes=$(find "$tmp/out/$split" -mindepth 1 -maxdepth 1 -type d | wc -l)
  images=$(find "$tmp/out/$split" -type f | wc -l)
  echo "imagenette.sh: $split: $images photos in $classes classes" >&2
done
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$tmp/out" "$dest"
echo "$dest"
