#!/bin/sh
# IMAD workspace start: make a student's home usable, then exec the server command.
#
# The singleuser image's ENTRYPOINT (under tini); KubeSpawner passes the command
# (jupyterhub-singleuser and its arguments). The home is the student's own volume
# claim: empty at the first start, kept afterwards (~/app, the clone, lives there).
#
# - git: a default configuration on a fresh home (main as the first branch, no pager,
#   no interactive prompts); a student's own ~/.gitconfig is never touched. The
#   repository's credentials are never written here: the workspace asks the hub.
# - npm: its cache goes to the home (the image's file system is not the student's).
set -eu

: "${HOME:=/home/jovyan}"
mkdir -p "$HOME"
if [ ! -e "$HOME/.gitconfig" ]; then
	git config --global init.defaultBranch main
	git config --global core.pager cat
	git config --global advice.detachedHead false
fi
export GIT_TERMINAL_PROMPT=0
export NPM_CONFIG_CACHE="${NPM_CONFIG_CACHE:-$HOME/.cache/npm}"
export NPM_CONFIG_UPDATE_NOTIFIER=false

[ "$#" -gt 0 ] || set -- jupyterhub-singleuser
exec "$@"
