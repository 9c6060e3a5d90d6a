#!/usr/bin/env python3
"""List C functions longer than a limit (kernel style: a definition's body
opens with "{" and closes with "}" alone in column 0).

usage: tools/funclen.py [--limit N] [--counts] DIR|FILE...

Prints "LINES FILE:LINE NAME" for each function over the limit (default
100 lines, the signature through the closing brace), longest first; with
--counts, the line count of each file instead.
"""
import os
import re
import sys

NAME = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*\(')


def files(args):
	for a in args:
		if os.path.isdir(a):
			for root, _, names in os.walk(a):
				for n in sorted(names):
					if n.endswith(('.c', '.h')):
						yield os.path.join(root, n)
		else:
			yield a


def functions(path):
	with open(path, encoding='utf-8', errors='replace') as f:
		lines = f.read().split('\n')
	i = 0
	while i < len(lines):
		if lines[i] != '{':
			i += 1
			continue
		# the signature: back to the line after a blank, '}' or ';'
		s = i - 1
		while s > 0 and lines[s - 1].strip() and \
				not lines[s - 1].startswith(('}', '#')) and \
				not lines[s - 1].rstrip().endswith((';', '*/')):
			s -= 1
		sig = ' '.join(lines[s:i])
		m = NAME.search(sig)
		e = i + 1
		while e < len(lines) and not lines[e].startswith('}'):
			e += 1
		if m:
			yield m.group(1), s + 1, e - s + 1
		i = e + 1


def main():
	args = sys.argv[1:]
	limit = 100
	counts = False
	if args[:1] == ['--counts']:
		counts = True
		args = args[1:]
	if args[:1] == ['--limit']:
		limit = int(args[1])
		args = args[2:]
	if counts:
		rows = []
		for p in files(args):
			with open(p, encoding='utf-8', errors='replace') as f:
				rows.append((f.read().count('\n'), p))
		for n, p in sorted(rows, reverse=True):
			print('%6d %s' % (n, p))
		return 0
	rows = []
	for p in files(args):
		for name, line, n in functions(p):
			if n > limit:
				rows.append((n, '%s:%d' % (p, line), name))
	for n, where, name in sorted(rows, key=lambda r: (-r[0], r[1])):
		print('%6d %s %s' % (n, where, name))
	return 0


if __name__ == '__main__':
	sys.exit(main())
