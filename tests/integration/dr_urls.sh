#!/bin/bash
# Every error about a repository URL says what is wrong with it: S3 bucket
# name rules (length, characters, first and last character, two dots, an
# IP address), the prefix (empty or dot segments), the scheme (unknown,
# upper case, s3:/ with one slash), file:// without an absolute path, an
# empty URL, an endpoint with a path - one line, exit 1, nothing created,
# for init, snapshots, mount, mirror and --replica alike.
#
# Runs once (the local variant: no request is made); the s3 variant skips.
source "$(dirname "$0")/lib.sh"
[ "$DRFS_TEST_BACKEND" = local ] || skip "URLs are parsed before any request: the local variant runs it"
DRFS=$(realpath "$DRFS")
cd "$T" # a relative "s3:/bucket" would land here
mkdir -p "$T/mnt" "$T/src"
echo x >"$T/src/f"
drfs init "$T/good" >/dev/null 2>&1

# bad URL REASON CMD... — CMD (URL in it) fails with one line naming REASON
bad() {
	local url=$1 why=$2
	shift 2
	run_nocrash "$* ($url)" "$@"
	[ "$RC" = 1 ] || { cat "$T/last.err" >&2; fail "\"$url\": exit $RC, want 1"; }
	[ "$(grep -c . "$T/last.err")" = 1 ] ||
		{ cat "$T/last.err" >&2; fail "\"$url\": more than one line"; }
	grep -qF -- "$why" "$T/last.err" ||
		fail "\"$url\": the message does not say \"$why\": $(cat "$T/last.err")"
}

while IFS='|' read -r url why; do
	[ -n "$url" ] || continue
	bad "$url" "$why" drfs snapshots "$url"
	bad "$url" "$why" drfs init "$url"
done <<'EOF'
s3://ab|a bucket name has at least 3 characters
s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa|a bucket name has at most 63 characters
s3://bu$ket|a bucket name has only lower-case letters, digits
s3://-bucket|a bucket name begins and ends with a letter or a digit
s3://bucket-|a bucket name begins and ends with a letter or a digit
s3://my..bucket|a bucket name has no two dots in a row
s3://192.168.1.20|a bucket name is not an IP address
s3://|no bucket name
s3://bucket//host|the prefix has an empty segment
s3://bucket/../host|the prefix has a "." or ".." segment
S3://bucket|the scheme is lower case: s3://
http://example.com/repo|unknown scheme "http"
file://relative/path|a file:// URL has an absolute path
s3:/bucket|an S3 URL has two slashes
EOF
bad "" "it is empty" drfs snapshots ""
[ ! -e "$T/s3:" ] || fail "a directory \"s3:\" was created"
bad s3://ab "at least 3 characters" drfs mount s3://ab "$T/mnt"
bad s3://ab "at least 3 characters" drfs backup "$T/good" "$T/src" --replica s3://ab
bad s3://ab "at least 3 characters" "$DRFS" mirror "$T/good" s3://ab --cache-dir "$T/ms"
bad S3://x "the scheme is lower case" "$DRFS" mirror S3://x "$T/m2" --cache-dir "$T/ms"
bad s3://bucket "without a path" env AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s \
	"$DRFS" snapshots s3://bucket --endpoint http://127.0.0.1:1/path --cache-dir "$T/c2"
echo "dr_urls: ok"
