#!/bin/sh
# IMAD student app runtime: fetch one commit of a student's repository, install its
# dependencies when a lockfile asks for them, and start the app on $PORT.
#
# Used by the nodejs-student image (ENTRYPOINT) and by the local publisher, so both
# modes run apps the same way. Everything it prints goes to the app's logs, which the
# student reads: lines start with "imad:" and say what to fix.
#
# Environment:
#   REPO_URL       git URL or local path of the repository (credentials in it are
#                  never printed)
#   COMMIT         the 40-hex commit to run
#   APP_DIR        where to check the commit out (created; reused when it already
#                  holds exactly that commit, e.g. a container restart)
#   PORT           the port the app must listen on (passed through to the app)
#   NPM_CACHE_DIR  optional: installed dependencies are kept here, keyed by the
#                  lockfile's SHA-256, so a republish with the same lockfile does not
#                  run `npm ci` again; npm's download cache lives here too.
#
# Start: `scripts.start` of package.json. When it is a plain `node <file>` the file is
# exec'd with node directly (npm's own start-up costs ~200 ms on the publish path);
# otherwise `npm start`. Without a start script, npm's default applies: `node
# server.js` when server.js exists.
#
# Exit codes: 2 bad environment, 3 commit not fetched, 4 no package.json / unreadable,
# 5 nothing to start, 6 dependency install failed. Otherwise the app's own exit code.
set -eu

say() { echo "imad: $*"; }
fail() {
	code=$1
	shift
	echo "imad: error: $*" >&2
	exit "$code"
}
# A URL for people: without any user:password@ part.
redact() { sed -e 's#://[^/@]*@#://#'; }

[ -n "${REPO_URL:-}" ] || fail 2 "REPO_URL is not set (the repository to run)."
[ -n "${APP_DIR:-}" ] || fail 2 "APP_DIR is not set (where to check the app out)."
[ -n "${PORT:-}" ] || fail 2 "PORT is not set (the port the app must listen on)."
COMMIT=${COMMIT:-}
case $COMMIT in
*[!0-9a-f]*) fail 2 "COMMIT '$COMMIT' is not a commit id (40 lower-case hex digits)." ;;
esac
[ ${#COMMIT} -eq 40 ] || fail 2 "COMMIT '$COMMIT' is not a commit id (40 lower-case hex digits)."
case $PORT in
'' | *[!0-9]*) fail 2 "PORT '$PORT' is not a port number." ;;
esac

export GIT_TERMINAL_PROMPT=0
short=$(printf '%s' "$COMMIT" | cut -c1-7)
where=$(printf '%s' "$REPO_URL" | redact)

# --- 1. the code at exactly that commit ------------------------------------------------
mkdir -p "$APP_DIR"
cd "$APP_DIR"
if [ "$(git rev-parse -q --verify HEAD 2>/dev/null || true)" = "$COMMIT" ]; then
	say "commit $short already checked out in $APP_DIR"
else
	if [ -n "$(ls -A . 2>/dev/null)" ]; then
		fail 2 "APP_DIR $APP_DIR is not empty and does not hold commit $short."
	fi
	git -c init.defaultBranch=main init -q .
	# Shallow fetch of the one commit: servers with protocol v2 (git >= 2.18, GitHub)
	# allow asking for any reachable commit by id.
	if ! err=$(git fetch -q --no-tags --depth 1 "$REPO_URL" "$COMMIT" 2>&1); then
		# Older servers only hand out branch tips: fetch the branches, then look.
		git fetch -q --no-tags "$REPO_URL" '+refs/heads/*:refs/remotes/origin/*' >/dev/null 2>&1 || true
		if ! git cat-file -e "$COMMIT^{commit}" 2>/dev/null; then
			printf '%s\n' "$err" | redact | sed -e 's/^/imad: git: /' >&2
			fail 3 "commit $short was not found in $where. Commit and push first, then publish that commit."
		fi
	fi
	git -c advice.detachedHead=false checkout -q "$COMMIT" ||
		fail 3 "could not check out commit $short."
	say "checked out commit $short"
fi

# --- 2. what package.json asks for --------------------------------------------------------
[ -f package.json ] || fail 4 "commit $short has no package.json at the top of the repository."
# One node run reads package.json; it prints "<start kind>\t<file>\t<dependency count>".
# The plan depends only on package.json and on whether server.js exists, so with a cache
# folder it is kept there under a hash of both: a republish that did not change
# package.json skips this node start (about 60 ms of the publish).
plan=""
plan_file=""
if [ -n "${NPM_CACHE_DIR:-}" ]; then
	key=$({
		cat package.json
		[ -f server.js ] && echo "+server.js"
	} | sha256sum | cut -c1-64)
	plan_file="$NPM_CACHE_DIR/plans/$key"
	[ -f "$plan_file" ] && plan=$(cat "$plan_file")
fi
[ -n "$plan" ] || plan=$(node -e '
const fs = require("fs");
let p;
try { p = JSON.parse(fs.readFileSync("package.json", "utf8")); }
catch (e) { console.log("badjson\t" + String(e.message).replace(/\s+/g, " ")); process.exit(0); }
const start = (p && p.scripts && typeof p.scripts.start === "string") ? p.scripts.start : null;
const deps = Object.keys(Object.assign({}, p.dependencies, p.devDependencies)).length;
let kind = "npm", file = "";
const m = start === null ? null : /^\s*node\s+([A-Za-z0-9_.\/][A-Za-z0-9_.\/-]*)\s*$/.exec(start);
if (start === null) { kind = fs.existsSync("server.js") ? "node" : "none"; file = "server.js"; }
else if (m) { kind = "node"; file = m[1]; }
console.log(kind + "\t" + file + "\t" + deps);
') || fail 4 "could not read package.json with node."
if [ -n "$plan_file" ] && [ ! -f "$plan_file" ] && mkdir -p "$NPM_CACHE_DIR/plans" 2>/dev/null; then
	plan_tmp="$plan_file.$$"
	# rename is atomic: a concurrent start never reads half a plan
	{ printf '%s\n' "$plan" >"$plan_tmp" && mv -f "$plan_tmp" "$plan_file"; } 2>/dev/null || rm -f "$plan_tmp"
fi
tab=$(printf '\t')
kind=${plan%%"$tab"*}
rest=${plan#*"$tab"}
file=${rest%%"$tab"*}
deps=${rest#*"$tab"}
case $kind in
badjson) fail 4 "package.json is not valid JSON: $rest" ;;
none) fail 5 "package.json has no \"start\" script and there is no server.js: add \"scripts\": {\"start\": \"node server.js\"}." ;;
esac

# --- 3. dependencies, only when a lockfile pins them ---------------------------------------
lockfile=""
[ -f package-lock.json ] && lockfile=package-lock.json
[ -f npm-shrinkwrap.json ] && lockfile=npm-shrinkwrap.json
if [ -n "$lockfile" ]; then
	install() {
		say "installing dependencies (npm ci)"
		npm ci --no-audit --no-fund --loglevel=error ||
			fail 6 "npm ci failed: check that $lockfile matches package.json (run npm install and commit both)."
	}
	if [ -n "${NPM_CACHE_DIR:-}" ]; then
		hash=$(sha256sum "$lockfile" | cut -c1-64)
		cached="$NPM_CACHE_DIR/$hash/node_modules"
		export npm_config_cache="$NPM_CACHE_DIR/_npm"
		if [ ! -d "$cached" ]; then
			rm -rf node_modules
			install
			mkdir -p node_modules "$NPM_CACHE_DIR" # (a lockfile without packages makes none)
			tmp=$(mktemp -d "$NPM_CACHE_DIR/.new-XXXXXX")
			chmod 755 "$tmp"
			mv node_modules "$tmp/node_modules"
			# rename is atomic: a concurrent install of the same lockfile simply loses
			mv -T "$tmp" "$NPM_CACHE_DIR/$hash" 2>/dev/null || true
			[ -d "$cached" ] || cached="$tmp/node_modules"
		else
			say "dependencies unchanged ($lockfile ${hash%"${hash#????????}"}): reusing the installed ones"
		fi
		rm -rf node_modules
		ln -s "$cached" node_modules
	else
		install
	fi
elif [ "${deps:-0}" != 0 ]; then
	say "warning: package.json lists dependencies but there is no package-lock.json, so none are installed; run npm install and commit package-lock.json."
fi

# --- 4. start ----------------------------------------------------------------------------------
if [ "$kind" = node ]; then
	say "starting: node $file (port $PORT)"
	exec node "$file"
fi
say "starting: npm start (port $PORT)"
exec npm start
