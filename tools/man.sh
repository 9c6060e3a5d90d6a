#!/usr/bin/env bash
# tools/man.sh DRFS — drfs(1) in man(7) format, generated from DRFS's own
# help (the tables that parse the command line): NAME, SYNOPSIS, the global
# help as DESCRIPTION, then one section per command with `drfs help CMD`.
# meson builds it (build/drfs.1) and installs it into mandir/man1.
set -euo pipefail
drfs=${1:?usage: tools/man.sh DRFS}
ver=$("$drfs" --version | awk '{ print $2 }')
# text as man(7) body: escape backslashes and leading dots/quotes
roff() { sed -e 's/\\/\\e/g' -e 's/^\([.'"'"']\)/\\\&\1/'; }
echo ".TH DRFS 1 \"\" \"drfs $ver\" \"User Commands\""
echo '.SH NAME'
echo 'drfs \- a backup repository you can mount'
echo '.SH SYNOPSIS'
echo '.B drfs'
echo '[\fIGLOBAL OPTIONS\fR] \fICOMMAND\fR [\fIARGS\fR] [\fIOPTIONS\fR]'
echo '.SH DESCRIPTION'
echo '.nf'
"$drfs" help | roff
echo '.fi'
"$drfs" help | sed -n '/^commands:/,/^$/p' |
	awk 'NF > 1 && $1 != "commands:" { print $1 }' |
	while read -r c; do
		echo ".SH COMMAND: ${c^^}"
		echo '.nf'
		"$drfs" help "$c" | roff
		echo '.fi'
	done
echo '.SH SEE ALSO'
echo 'The documentation under /usr/share/doc/drfs, or docs/ of the source tree.'
