#!/usr/bin/env bash
# The labelled photo set the README's photo figures come from: Imagenette (fastai's ten easy ImageNet
# classes; 9,469 training and 3,925 validation photos, here as 224 × 224 JPEGs) from the public
# repository github.com/thunderInfy/imagenette, laid out as simclr and torchvision's ImageFolder
# read it: <dest>/train/<class>/*.JPEG and <dest>/val/<class>/*.JPEG. Nothing of it enters this
# repository (the destination default, data/, is ignored by git).
#   scripts/imagenette.sh [dest] [source]
# source: the repository's URL (default), or a clone of it already on this machine (a folder with a
# .git, or a bare git directory): what the photos are read from, by `git archive` of its HEAD.
exec "$(dirname "$0")/git-image-folder.sh" "${1:-data/imagenette}" "${2:-https://github.com/thunderInfy/imagenette.git}" train val
