#!/usr/bin/env bash
# A labelled image folder from a public git repository that holds one: the split folders named
# (each of class folders) copied from its HEAD into <dest>, as simclr and torchvision's ImageFolder
# read them. What scripts/imagenette.sh and scripts/cifar10.sh run.
#   scripts/git-image-folder.sh <dest> <source> <split>...
# source: the repository's URL, or a clone of it already on this machine (a folder with a .git, or a
# bare git directory): what the images are read from, by `git archive` of its HEAD.
set -euo pipefail
dest=$1
source=$2
shift 2
name=$(basename "$dest")
have=1
for split in "$@"; do [ -d "$dest/$split" ] || have=0; done
if [ $have = 1 ]; then
  echo "$name: $dest already holds $*" >&2
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
git --git-dir="$gitdir" archive HEAD "$@" | tar -x -C "$tmp/out"
for split in "$@"; do
  classes=$(find "$tmp/out/$split" -mindepth 1 -maxdepth 1 -type d | wc -l)
  images=$(find "$tmp/out/$split" -type f | wc -l)
  echo "$name: $split: $images images in $classes classes" >&2
done
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$tmp/out" "$dest"
echo "$dest"
