#!/bin/bash
# Real trees from this machine (/usr/share/doc, /usr/include: thousands of
# files and symlinks) -> backup -> restore -> identical (atimes aside: other
# processes may read these trees while the test runs).
source "$(dirname "$0")/lib.sh"
make_repo
drfs init "$REPO"

n=0
for src in "$(realtree)" /usr/include; do
	[ -d "$src" ] || continue
	n=$((n + 1))
	snap=$(drfs backup "$REPO" "$src" | tail -n 1)
	[ -n "$snap" ] || fail "backup of $src printed no snapshot"
	drfs restore "$REPO" "$snap" "$T/out$n"
	treecmp --no-atime --ignore-root-times "$src" "$T/out$n" ||
		fail "restore of $src ($snap) differs"
	info "$src: $(find "$src" | wc -l) entries ok ($snap)"
done
[ "$n" -gt 0 ] || skip "no real tree on this machine"
drfs check "$REPO" --read-data
