// SPDX-License-Identifier: MIT
/*
 * replay.c - run a libFuzzer target without libFuzzer.
 *
 * Usage: fuzz_<target> CORPUS_DIR|FILE...
 *
 * Runs LLVMFuzzerTestOneInput() on every file given (or in each directory
 * given), then on DRFS_FUZZ_ITERS (default 2000) random mutations of those
 * inputs: bit flips, byte changes, truncations, insertions, duplications and
 * splices of two entries. The seed comes from DRFS_TEST_SEED, else the time;
 * it is printed, and the same seed replays the same inputs. Exit 0 unless
 * the target crashes (the sanitizers abort the process); before dying, the
 * current input is written to DRFS_FUZZ_CRASH_DIR (default: the current
 * directory) as fuzz-crash-<seed>-<iteration>.
 *
 * With libFuzzer (tools/fuzz.sh) this file is not linked.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REPLAY_MAX_INPUT (1u << 20)
#define MAX_FILES 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

struct input {
	uint8_t *data;
	size_t size;
};

static struct input inputs[MAX_FILES];
static size_t n_inputs;

static uint64_t rng_state;

/* The input being run, for the death callback. */
static const uint8_t *cur_data;
static size_t cur_size;
static uint64_t cur_seed;
static long cur_iter = -1;

static uint64_t rng_next(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t rng_below(size_t n)
{
	return n ? (size_t)(rng_next() % n) : 0;
}

static void save_current(void)
{
	const char *dir = getenv("DRFS_FUZZ_CRASH_DIR");
	char path[4096];
	FILE *f;

	if (cur_iter < 0 || !cur_data)
		return;
	snprintf(path, sizeof(path), "%s/fuzz-crash-%" PRIu64 "-%ld",
		 dir && *dir ? dir : ".", cur_seed, cur_iter);
	f = fopen(path, "wb");
	if (!f)
		return;
	if (cur_size)
		fwrite(cur_data, 1, cur_size, f);
	fclose(f);
	fprintf(stderr, "replay: crashing input saved to %s\n", path);
}

static void run_one(const uint8_t *data, size_t size)
{
	cur_data = data;
	cur_size = size;
	LLVMFuzzerTestOneInput(data, size);
	cur_data = NULL;
}

static int add_file(const char *path)
{
	struct input *in;
	uint8_t *buf;
	size_t len = 0;
	ssize_t n;
	int fd;

	if (n_inputs >= MAX_FILES)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	buf = malloc(REPLAY_MAX_INPUT);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (len < REPLAY_MAX_INPUT) {
		n = read(fd, buf + len, REPLAY_MAX_INPUT - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	in = &inputs[n_inputs++];
	in->data = buf;
	in->size = len;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add every regular file of DIR, in name order (so a seed replays). */
static int add_dir(const char *dir)
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	struct stat st;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		/* an empty corpus directory is not kept in git */
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? 2 * cap : 64;
			nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				break;
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			add_file(path);
		free(names[i]);
	}
	free(names);
	return 0;
}

/* Build one mutation of a corpus entry into OUT (capacity REPLAY_MAX_INPUT). */
static size_t mutate(uint8_t *out)
{
	const struct input *a, *b;
	size_t size, rounds, r, pos, len, i;

	if (n_inputs) {
		a = &inputs[rng_below(n_inputs)];
		size = a->size;
		memcpy(out, a->data, size);
	} else {
		size = rng_below(256);
		for (i = 0; i < size; i++)
			out[i] = (uint8_t)rng_next();
	}
	rounds = 1 + rng_below(4);
	for (r = 0; r < rounds; r++) {
		switch (rng_below(7)) {
		case 0: /* flip a bit */
			if (size)
				out[rng_below(size)] ^= (uint8_t)(1u << rng_below(8));
			break;
		case 1: /* set a byte to an interesting value */
			if (size) {
				static const uint8_t v[] = { 0, 1, 0x7f, 0x80,
							     0xff, 0xfe, 0x40 };

				out[rng_below(size)] = v[rng_below(sizeof(v))];
			}
			break;
		case 2: /* truncate */
			size = rng_below(size + 1);
			break;
		case 3: /* insert random bytes */
			len = 1 + rng_below(16);
			if (size + len > REPLAY_MAX_INPUT)
				break;
			pos = rng_below(size + 1);
			memmove(out + pos + len, out + pos, size - pos);
			for (i = 0; i < len; i++)
				out[pos + i] = (uint8_t)rng_next();
			size += len;
			break;
		case 4: /* erase a range */
			if (!size)
				break;
			pos = rng_below(size);
			len = 1 + rng_below(size - pos);
			memmove(out + pos, out + pos + len, size - pos - len);
			size -= len;
			break;
		case 5: /* overwrite with a little-endian length field */
			if (size >= 4) {
				uint32_t x = (uint32_t)rng_next();

				if (rng_below(2))
					x = rng_below(2) ? 0xffffffffu :
						(uint32_t)rng_below(size * 2 + 2);
				pos = rng_below(size - 3);
				for (i = 0; i < 4; i++)
					out[pos + i] = (uint8_t)(x >> (8 * i));
			}
			break;
		case 6: /* splice: our head, another entry's tail */
			if (!n_inputs)
				break;
			b = &inputs[rng_below(n_inputs)];
			pos = rng_below(size + 1);
			i = rng_below(b->size + 1);
			len = b->size - i;
			if (pos + len > REPLAY_MAX_INPUT)
				len = REPLAY_MAX_INPUT - pos;
			memcpy(out + pos, b->data + i, len);
			size = pos + len;
			break;
		}
	}
	return size;
}

int main(int argc, char **argv)
{
	const char *env;
	uint8_t *buf;
	long iters = 2000, i;
	size_t k, size;
	struct stat st;
	int a;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(save_current);

	env = getenv("DRFS_FUZZ_ITERS");
	if (env && *env)
		iters = strtol(env, NULL, 10);
	env = getenv("DRFS_TEST_SEED");
	if (env && *env)
		cur_seed = strtoull(env, NULL, 0);
	else
		cur_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	rng_state = cur_seed;

	for (a = 1; a < argc; a++) {
		if (stat(argv[a], &st) == 0 && S_ISREG(st.st_mode))
			add_file(argv[a]);
		else
			add_dir(argv[a]);
	}
	fprintf(stderr, "replay: %zu corpus inputs, %ld mutations, "
		"DRFS_TEST_SEED=%" PRIu64 "\n", n_inputs, iters, cur_seed);

	for (k = 0; k < n_inputs; k++)
		run_one(inputs[k].data, inputs[k].size);
	run_one((const uint8_t *)"", 0);

	buf = malloc(REPLAY_MAX_INPUT);
	if (!buf) {
		fprintf(stderr, "replay: out of memory\n");
		return 1;
	}
	for (i = 0; i < iters; i++) {
		uint8_t *exact;

		cur_iter = i;
		size = mutate(buf);
		/* an exact-size copy, so ASan catches reads past the end */
		exact = malloc(size ? size : 1);
		if (!exact)
			break;
		memcpy(exact, buf, size);
		run_one(exact, size);
		free(exact);
	}
	cur_iter = -1;
	free(buf);
	for (k = 0; k < n_inputs; k++)
		free(inputs[k].data);
	fprintf(stderr, "replay: done, no crash\n");
	return 0;
}
